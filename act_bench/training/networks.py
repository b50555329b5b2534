"""Networks: the consistency-model parameterisation and the bundled-data backbones.

Generators are wrapped in `ConsistencyModel`, which owns c_skip / c_out / c_in / c_noise
(act-spec §2, ct-spec §2). Discriminators see clean-space samples plus the noise level σ.
Image networks are built from diffusers' UNet blocks, as the official ACT code does.
"""

import math

import torch
from diffusers import UNet2DModel
from diffusers.models.attention_processor import Attention, AttnProcessor, AttnProcessor2_0
from diffusers.models.embeddings import TimestepEmbedding, Timesteps
from diffusers.models.unets.unet_2d_blocks import UNetMidBlock2D, get_down_block
from torch import nn

#----------------------------------------------------------------------------
# Noise-level conditioning.

def noise_embedding_input(sigma, mode):
    """The scalar a backbone's sinusoidal embedding receives for noise level σ.

    'log': 250·ln σ, the CM PyTorch code's c_noise (1000·0.25·ln σ).
    'raw': σ itself, the official ACT code's quirk (t_rescale=False).
    """
    if mode == 'log':
        return 250.0 * torch.log(sigma.clamp_min(1e-44))
    if mode == 'raw':
        return sigma
    raise ValueError(f'unknown sigma_embedding {mode!r}; expected "log" or "raw"')

#----------------------------------------------------------------------------
# Consistency-model parameterisation with the exact boundary condition f(x, σ_min) = x.

class ConsistencyModel(nn.Module):
    def __init__(self, backbone, sigma_min=0.002, sigma_max=80.0, sigma_data=0.5, sigma_embedding='log'):
        super().__init__()
        self.backbone = backbone
        self.sigma_min = sigma_min
        self.sigma_max = sigma_max
        self.sigma_data = sigma_data
        self.sigma_embedding = sigma_embedding

    def scalings(self, sigma):
        sd, smin = self.sigma_data, self.sigma_min
        c_skip = sd ** 2 / ((sigma - smin) ** 2 + sd ** 2)
        root = torch.sqrt(sigma ** 2 + sd ** 2)   # shared by c_out and c_in (the same ops as each alone)
        c_out = (sigma - smin) * sd / root
        c_in = 1 / root
        return c_skip, c_out, c_in

    def forward(self, x, sigma, class_labels=None):
        sigma = sigma.to(x.dtype).reshape(-1)
        shape = (-1,) + (1,) * (x.ndim - 1)
        c_skip, c_out, c_in = (c.reshape(shape) for c in self.scalings(sigma))
        t = noise_embedding_input(sigma, self.sigma_embedding)
        F = self.backbone(c_in * x, t) if class_labels is None else self.backbone(c_in * x, t, class_labels)
        return c_skip * x + c_out * F

#----------------------------------------------------------------------------
# toy2d, and images flattened (network: mlp): σ-conditioned MLPs.

class CachedTimesteps(Timesteps):
    """diffusers' sinusoidal `Timesteps` with its frequency vector computed once per device (by the same
    ops on that device, so bitwise diffusers' embedding): 4 ops per call instead of 12 (≈ 90 → 25 µs on
    a CPU core at batch 128, called 2–6 times per training step of the small networks)."""

    def __init__(self, num_channels, flip_sin_to_cos, downscale_freq_shift):
        super().__init__(num_channels, flip_sin_to_cos, downscale_freq_shift)
        self.frequencies = {}   # device -> exp(−ln(10⁴)·i / (half − shift)), i < half

    def frequencies_on(self, device):
        if device not in self.frequencies:
            half = self.num_channels // 2
            exponent = -math.log(10000) * torch.arange(start=0, end=half, dtype=torch.float32, device=device)
            self.frequencies[device] = torch.exp(exponent / (half - self.downscale_freq_shift))
        return self.frequencies[device]

    def forward(self, timesteps):
        if self.num_channels % 2 or self.scale != 1 or timesteps.ndim != 1:
            return super().forward(timesteps)
        emb = timesteps[:, None].float() * self.frequencies_on(timesteps.device)[None, :]
        sin, cos = torch.sin(emb), torch.cos(emb)
        return torch.cat([cos, sin] if self.flip_sin_to_cos else [sin, cos], dim=-1)


class SigmaEmbedding(nn.Module):
    """diffusers' sinusoidal `Timesteps` followed by its 2-layer `TimestepEmbedding` MLP."""

    def __init__(self, channels, embed_dim, flip_sin_to_cos=True, freq_shift=0):
        super().__init__()
        self.sinusoid = CachedTimesteps(channels, flip_sin_to_cos, freq_shift)
        self.mlp = TimestepEmbedding(channels, embed_dim)

    def forward(self, t):
        return self.mlp(self.sinusoid(t).to(self.mlp.linear_1.weight.dtype))


def mlp(in_dim, hidden, layers, out_dim):
    dims = [in_dim] + [hidden] * layers
    blocks = []
    for a, b in zip(dims[:-1], dims[1:]):
        blocks += [nn.Linear(a, b), nn.SiLU()]
    return nn.Sequential(*blocks, nn.Linear(dims[-1], out_dim))


class MLPGenerator(nn.Module):
    def __init__(self, dim=2, hidden=128, layers=3):
        super().__init__()
        self.embed = SigmaEmbedding(64, hidden)
        self.net = mlp(dim + hidden, hidden, layers, dim)

    def forward(self, x, t):
        return self.net(torch.cat([x, self.embed(t)], dim=1))


class Flattened(nn.Module):
    """Runs a vector network on images: (B, C, H, W) in, flattened for it, its output reshaped back."""

    def __init__(self, backbone, keep_shape=True):
        super().__init__()
        self.backbone = backbone
        self.keep_shape = keep_shape

    def forward(self, x, t):
        out = self.backbone(x.flatten(1), t)
        return out.view(x.shape) if self.keep_shape else out


class MLPDiscriminator(nn.Module):
    def __init__(self, dim=2, hidden=128, layers=3):
        super().__init__()
        self.embed = SigmaEmbedding(64, hidden)
        self.net = mlp(dim + hidden, hidden, layers, 1)

    def forward(self, x, t):
        return self.net(torch.cat([x, self.embed(t)], dim=1)).squeeze(1)

#----------------------------------------------------------------------------
# Image networks from diffusers' UNet blocks: the small digits nets and the paper-scale ones
# (act_bench.training.act_networks) are the same classes with different settings.

def _down_types(n_levels, attention_levels):
    return tuple('AttnDownBlock2D' if i in attention_levels else 'DownBlock2D' for i in range(n_levels))


class UNetGenerator(nn.Module):
    """diffusers `UNet2DModel` returning the raw network output F(c_in·x, c_noise[, labels]).

    `keep_channels` keeps only the last channels of the output (the official CIFAR10 net
    predicts 6 channels and uses channels 3:6)."""

    def __init__(self, resolution, channels, in_channels=1, out_channels=None, layers_per_block=1,
                 attention_levels=(1,), head_dim=8, norm_groups=8, num_classes=None,
                 flip_sin_to_cos=True, freq_shift=0):
        super().__init__()
        n = len(channels)
        down = _down_types(n, attention_levels)
        up = tuple(t.replace('Down', 'Up') for t in reversed(down))
        self.keep_channels = in_channels
        self.unet = UNet2DModel(
            sample_size=resolution, in_channels=in_channels, out_channels=out_channels or in_channels,
            block_out_channels=tuple(channels), layers_per_block=layers_per_block,
            down_block_types=down, up_block_types=up, attention_head_dim=head_dim,
            norm_num_groups=norm_groups, num_class_embeds=num_classes,
            flip_sin_to_cos=flip_sin_to_cos, freq_shift=freq_shift)

    def forward(self, x, t, class_labels=None):
        out = self.unet(x, t.reshape(-1).expand(x.shape[0]), class_labels=class_labels).sample
        return out[:, -self.keep_channels:]


# Processors hold no state: one instance of each, so that switching back and forth (R1 iterations) hands
# a compiled discriminator the objects it was traced with instead of new ones to recompile for.
SDPA_PROCESSOR, CLASSIC_PROCESSOR = AttnProcessor2_0(), AttnProcessor()


def set_attention(module, sdpa):
    """Every diffusers attention of `module` to scaled-dot-product attention, or to the classic processor,
    which supports double backward on CPU; the R1 penalty differentiates through the discriminator twice."""
    for m in module.modules():
        if isinstance(m, Attention):
            m.set_processor(SDPA_PROCESSOR if sdpa else CLASSIC_PROCESSOR)
    return module


class UNetEncoderDiscriminator(nn.Module):
    """Encoder half of a diffusers UNet + pooled linear head, conditioned on σ (and the class),
    as the official UNet2DModelDiscriminator (act-spec §6.2): conv_in → down blocks → mid →
    [GroupNorm] → SiLU → AdaptiveAvgPool2d(2) → Linear(4·C_last, 1). head_dim None = one head."""

    def __init__(self, channels, in_channels=1, layers_per_block=2, attention_levels=(1,), head_dim=8,
                 norm_groups=8, num_classes=None, final_norm=True, flip_sin_to_cos=True, freq_shift=0,
                 unused_head=False, eps=1e-5):
        super().__init__()
        temb, last = 4 * channels[0], channels[-1]
        self.embed = SigmaEmbedding(channels[0], temb, flip_sin_to_cos, freq_shift)
        self.class_embed = nn.Embedding(num_classes, temb) if num_classes else None
        self.conv_in = nn.Conv2d(in_channels, channels[0], 3, padding=1)
        blocks, prev = [], channels[0]
        for i, (ch, kind) in enumerate(zip(channels, _down_types(len(channels), attention_levels))):
            blocks.append(get_down_block(
                kind, num_layers=layers_per_block, in_channels=prev, out_channels=ch, temb_channels=temb,
                add_downsample=i < len(channels) - 1, resnet_eps=eps, resnet_act_fn='silu',
                resnet_groups=norm_groups, attention_head_dim=head_dim or ch, downsample_padding=1))
            prev = ch
        self.down = nn.ModuleList(blocks)
        self.mid = UNetMidBlock2D(last, temb, resnet_eps=eps, resnet_groups=norm_groups,
                                  attention_head_dim=head_dim or last)
        self.head = nn.Sequential(nn.GroupNorm(norm_groups, last, eps=eps) if final_norm else nn.Identity(),
                                  nn.SiLU(), nn.AdaptiveAvgPool2d(2), nn.Flatten(), nn.Linear(4 * last, 1))
        # Official quirk: a second head that no forward pass uses (kept only to match counts).
        self.to_logit_fx = nn.Linear(4 * last, 1) if unused_head else None
        set_attention(self, sdpa=False)

    def forward(self, x, t, class_labels=None):
        emb = self.embed(t.reshape(-1).expand(x.shape[0]))
        if self.class_embed is not None:
            if class_labels is None:
                raise ValueError('this discriminator is class-conditional: pass class_labels')
            emb = emb + self.class_embed(class_labels)
        h = self.conv_in(x)
        for block in self.down:
            h, _ = block(h, emb)
        return self.head(self.mid(h, emb)).squeeze(1)   # [B] even for B = 1

#----------------------------------------------------------------------------
# Construction from a run spec. A model entry either sizes the small bundled-data nets or names
# paper architectures (`generator: act-cifar10`, `discriminator: act-cifar10`, `generator: ct-cifar10`, ...).


class SigmaConditioned(nn.Module):
    """Feeds a discriminator backbone the same noise-level input as the generator."""

    def __init__(self, backbone, sigma_embedding):
        super().__init__()
        self.backbone = backbone
        self.sigma_embedding = sigma_embedding

    def forward(self, x, sigma, class_labels=None):
        t = noise_embedding_input(sigma.to(x.dtype).reshape(-1), self.sigma_embedding)
        return self.backbone(x, t) if class_labels is None else self.backbone(x, t, class_labels)


