"""Networks: the consistency-model parameterisation and the bundled-data backbones.

Generators are wrapped in `ConsistencyModel`, which owns c_skip / c_out / c_in / c_noise
(act-spec §2, ct-spec §2). Discriminators see clean-space samples plus the noise level σ.
Image networks are built from diffusers' UNet blocks, as the official ACT code does.
"""

import torch
from diffusers import UNet2DModel
from diffusers.models.attention_processor import Attention, AttnProcessor
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
        c_out = (sigma - smin) * sd / torch.sqrt(sigma ** 2 + sd ** 2)
        c_in = 1 / torch.sqrt(sigma ** 2 + sd ** 2)
        return c_skip, c_out, c_in

    def forward(self, x, sigma):
        sigma = sigma.to(x.dtype).reshape(-1)
        shape = (-1,) + (1,) * (x.ndim - 1)
        c_skip, c_out, c_in = (c.reshape(shape) for c in self.scalings(sigma))
        F = self.backbone(c_in * x, noise_embedding_input(sigma, self.sigma_embedding))
        return c_skip * x + c_out * F

#----------------------------------------------------------------------------
# toy2d: σ-conditioned MLPs.

class SigmaEmbedding(nn.Module):
    """diffusers' sinusoidal `Timesteps` followed by its 2-layer `TimestepEmbedding` MLP."""

    def __init__(self, channels, embed_dim, flip_sin_to_cos=True, freq_shift=0):
        super().__init__()
        self.sinusoid = Timesteps(channels, flip_sin_to_cos, freq_shift)
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


class MLPDiscriminator(nn.Module):
    def __init__(self, dim=2, hidden=128, layers=3):
        super().__init__()
        self.embed = SigmaEmbedding(64, hidden)
        self.net = mlp(dim + hidden, hidden, layers, 1)

    def forward(self, x, t):
        return self.net(torch.cat([x, self.embed(t)], dim=1)).squeeze(1)

#----------------------------------------------------------------------------
# digits: a small diffusers UNet generator and the encoder-half discriminator.

def _down_types(n_levels, attention_levels):
    return tuple('AttnDownBlock2D' if i in attention_levels else 'DownBlock2D' for i in range(n_levels))


class UNetGenerator(nn.Module):
    """diffusers `UNet2DModel` returning the raw network output F(c_in·x, c_noise)."""

    def __init__(self, resolution, channels, in_channels=1, layers_per_block=1,
                 attention_levels=(1,), head_dim=8, norm_groups=8):
        super().__init__()
        n = len(channels)
        down = _down_types(n, attention_levels)
        up = tuple(t.replace('Down', 'Up') for t in reversed(down))
        self.unet = UNet2DModel(
            sample_size=resolution, in_channels=in_channels, out_channels=in_channels,
            block_out_channels=tuple(channels), layers_per_block=layers_per_block,
            down_block_types=down, up_block_types=up, attention_head_dim=head_dim,
            norm_num_groups=norm_groups, flip_sin_to_cos=True, freq_shift=0)

    def forward(self, x, t):
        return self.unet(x, t).sample


def use_classic_attention(module):
    """Swap every diffusers attention to the classic (non-SDPA) processor, which supports
    double backward on CPU; the R1 penalty differentiates through the discriminator twice."""
    for m in module.modules():
        if isinstance(m, Attention):
            m.set_processor(AttnProcessor())
    return module


class UNetEncoderDiscriminator(nn.Module):
    """Encoder half of a diffusers UNet + linear head, conditioned on σ (act-spec §6.2)."""

    def __init__(self, channels, in_channels=1, layers_per_block=2, attention_levels=(1,),
                 head_dim=8, norm_groups=8):
        super().__init__()
        temb = 4 * channels[0]
        self.embed = SigmaEmbedding(channels[0], temb)
        self.conv_in = nn.Conv2d(in_channels, channels[0], 3, padding=1)
        blocks, prev = [], channels[0]
        for i, (ch, kind) in enumerate(zip(channels, _down_types(len(channels), attention_levels))):
            blocks.append(get_down_block(
                kind, num_layers=layers_per_block, in_channels=prev, out_channels=ch, temb_channels=temb,
                add_downsample=i < len(channels) - 1, resnet_eps=1e-5, resnet_act_fn='silu',
                resnet_groups=norm_groups, attention_head_dim=head_dim, downsample_padding=1))
            prev = ch
        self.down = nn.ModuleList(blocks)
        self.mid = UNetMidBlock2D(prev, temb, resnet_eps=1e-5, resnet_groups=norm_groups,
                                  attention_head_dim=head_dim)
        self.head = nn.Sequential(nn.GroupNorm(norm_groups, prev), nn.SiLU(), nn.AdaptiveAvgPool2d(2),
                                  nn.Flatten(), nn.Linear(4 * prev, 1))
        use_classic_attention(self)

    def forward(self, x, t):
        emb = self.embed(t)
        h = self.conv_in(x)
        for block in self.down:
            h, _ = block(h, emb)
        return self.head(self.mid(h, emb)).squeeze(1)

#----------------------------------------------------------------------------
# Construction from a run spec.

def build_generator(data_kind, shape, model, train):
    if data_kind == 'toy2d':
        backbone = MLPGenerator(shape[0], model['mlp_hidden'], model['mlp_layers'])
    else:
        backbone = UNetGenerator(shape[-1], model['unet_channels'], in_channels=shape[0],
                                 layers_per_block=model['unet_layers_per_block'],
                                 norm_groups=model['norm_groups'])
    return ConsistencyModel(backbone, train['sigma_min'], train['sigma_max'], train['sigma_data'],
                            train['sigma_embedding'])


class SigmaConditioned(nn.Module):
    """Feeds a discriminator backbone the same noise-level input as the generator."""

    def __init__(self, backbone, sigma_embedding):
        super().__init__()
        self.backbone = backbone
        self.sigma_embedding = sigma_embedding

    def forward(self, x, sigma):
        return self.backbone(x, noise_embedding_input(sigma.to(x.dtype).reshape(-1), self.sigma_embedding))


def build_discriminator(data_kind, shape, model, train):
    if data_kind == 'toy2d':
        backbone = MLPDiscriminator(shape[0], model['mlp_hidden'], model['mlp_layers'])
    else:
        backbone = UNetEncoderDiscriminator(model['disc_channels'], in_channels=shape[0],
                                            layers_per_block=model['disc_layers_per_block'],
                                            norm_groups=model['norm_groups'])
    return SigmaConditioned(backbone, train['sigma_embedding'])


def count_parameters(module):
    return sum(p.numel() for p in module.parameters()) if module is not None else 0

