"""Networks of the Consistency Training baselines (ct-spec §8, §14), built from diffusers.

* CIFAR10: NCSN++ as configured by the official JAX code (openai/consistency_models_cifar10,
  configs/cifar10_ve_ct_adaptive.py → jcm/models/ncsnpp.py): nf 128, ch_mult (2,2,2), 4 res
  blocks per level, attention at 16×16, BigGAN res blocks with FIR [1,3,3,1] up/down,
  Gaussian-Fourier noise embedding (scale 16), progressive_input='residual',
  progressive='none' (the config's value; EDM's `ncsnpp` preset is the same network with
  encoder_type='residual', decoder_type='standard'), GroupNorm(min(C/4, 32), eps 1e-6), swish,
  skip_rescale (every residual sum divided by √2).
  diffusers' `UNet2DModel` cannot express this variant: its Skip* blocks hard-wire the FFHQ /
  CelebA-HQ variant (progressive_input='input_skip' via a 1×1 `skip_conv`, progressive=
  'output_skip' via per-level `skip_norm`/`skip_conv`). `NCSNpp` therefore assembles the
  network from diffusers layers (GaussianFourierProjection, TimestepEmbedding, ResnetBlock2D
  with kernel='fir', Attention, FirDownsample2D); only the wiring lives here.
* ImageNet64 (class-conditional) and LSUN 256: ADM (guided-diffusion `UNetModel`, as in
  openai/consistency_models cm/unet.py with scripts/launch.sh settings). diffusers'
  `UNet2DModel` expresses it exactly: ResnetDownsampleBlock2D / AttnDownBlock2D and
  ResnetUpsampleBlock2D / AttnUpBlock2D with resnet up/down, 64-channel heads, and
  attn_norm_num_groups=32 so the mid-block attention keeps its GroupNorm under scale-shift.

All three reproduce the official parameter counts exactly (CT_OFFICIAL_COUNTS).

Noise-level input. The backbones are called as F(x, t[, class_labels]) with t = c_noise of
`ConsistencyModel(sigma_embedding='log')`, i.e. 250·ln σ (the PT code's 1000·0.25·ln σ). ADM
embeds it directly, as the PT code does. NCSN++ multiplies it by `time_scale` = 1e-3 first, so
its Fourier features see 0.25·ln σ, the JAX code's cond_t (jcm/models/utils.py
get_denoiser_fn).

Initialisation (`official_init=True`): the layers the official code zero-initialises start at
zero (ADM's `zero_module`s; NCSN++'s init_scale=0 layers, 1e-10 in JAX): the second conv of
every res block, every attention output projection and the output conv, so F ≡ 0 at init.
NCSN++ additionally uses JAX's default_init (variance scaling 1, fan_avg, uniform = Xavier
uniform) for every other conv / dense weight and zero biases; ADM keeps PyTorch's default init,
as guided-diffusion does.
"""

import math

import torch
from diffusers import UNet2DModel
from diffusers.models.attention_processor import Attention
from diffusers.models.downsampling import FirDownsample2D
from diffusers.models.embeddings import GaussianFourierProjection, TimestepEmbedding
from diffusers.models.resnet import ResnetBlock2D
from torch import nn

#----------------------------------------------------------------------------
# Per-dataset settings (ct-spec §8). `attn_resolutions` are feature-map sizes.

CT_NETWORKS = {
    'cifar10': dict(
        arch='ncsnpp', resolution=32, num_classes=None, nf=128, ch_mult=(2, 2, 2),
        num_res_blocks=4, attn_resolutions=(16,), fir_kernel=(1, 3, 3, 1), fourier_scale=16.0,
        eps=1e-6, time_scale=1e-3),
    'imagenet64': dict(
        arch='adm', resolution=64, num_classes=1000, model_channels=192, channel_mult=(1, 2, 3, 4),
        num_res_blocks=3, attn_resolutions=(32, 16, 8), head_channels=64, scale_shift=True),
    'lsun256': dict(
        arch='adm', resolution=256, num_classes=None, model_channels=256,
        channel_mult=(1, 1, 2, 2, 4, 4), num_res_blocks=2, attn_resolutions=(32, 16, 8),
        head_channels=64, scale_shift=False),
}

# Instantiated official networks, ct-spec §8 [measured]. CIFAR10 counts the 128 Fourier
# frequencies, which Flax stores as a (stop-gradient) param and diffusers as a frozen
# nn.Parameter; EDM's `ncsnpp` keeps them in a buffer (56,395,523).
CT_OFFICIAL_COUNTS = {'cifar10': 56_395_651, 'imagenet64': 295_899_267, 'lsun256': 526_304_771}

#----------------------------------------------------------------------------
# NCSN++ (CIFAR10).

def _groups(channels):
    return min(channels // 4, 32)


class NCSNpp(nn.Module):
    """NCSN++ with BigGAN res blocks, residual input pyramid and a standard (non-progressive)
    decoder. forward(x, t) -> [B, C, H, W]; t is scaled by `time_scale` before the Fourier
    projection."""

    def __init__(self, resolution=32, in_channels=3, nf=128, ch_mult=(2, 2, 2), num_res_blocks=4,
                 attn_resolutions=(16,), fir_kernel=(1, 3, 3, 1), fourier_scale=16.0, eps=1e-6,
                 time_scale=1e-3, dropout=0.0):
        super().__init__()
        if tuple(fir_kernel) != (1, 3, 3, 1):
            raise ValueError("diffusers' ResnetBlock2D(kernel='fir') hard-codes the [1,3,3,1] kernel")
        self.time_scale = time_scale
        temb = 4 * nf
        skip = math.sqrt(2.0)

        def resnet(cin, cout=None, up=False, down=False):
            cout = cout or cin
            return ResnetBlock2D(
                in_channels=cin, out_channels=cout, temb_channels=temb, groups=_groups(cin),
                groups_out=_groups(cout), eps=eps, dropout=dropout, non_linearity='silu',
                output_scale_factor=skip, up=up, down=down, kernel='fir' if up or down else None,
                use_in_shortcut=cin != cout or up or down)   # BigGAN: 1×1 shortcut when resampling

        def attention(ch):
            return Attention(ch, heads=1, dim_head=ch, rescale_output_factor=skip, eps=eps,
                             norm_num_groups=_groups(ch), residual_connection=True, bias=True,
                             upcast_softmax=True, _from_deprecated_attn_block=True)

        self.time_proj = GaussianFourierProjection(nf, scale=fourier_scale, log=False, flip_sin_to_cos=False)
        self.time_embedding = TimestepEmbedding(2 * nf, temb)     # Dense, swish, Dense
        self.conv_in = nn.Conv2d(in_channels, nf, 3, padding=1)

        # Encoder: per level, res blocks (+ attention), then a down res block and the residual
        # input pyramid (FIR-downsampling 3×3 conv of the previous pyramid level).
        self.down = nn.ModuleList()
        skips, ch, pyramid_ch, res = [nf], nf, in_channels, resolution
        for level, mult in enumerate(ch_mult):
            lv = nn.Module()
            lv.resnets, lv.attentions = nn.ModuleList(), nn.ModuleList()
            for _ in range(num_res_blocks):
                lv.resnets.append(resnet(ch, nf * mult))
                ch = nf * mult
                if res in attn_resolutions:
                    lv.attentions.append(attention(ch))
                skips.append(ch)
            if level < len(ch_mult) - 1:
                lv.resnet_down = resnet(ch, down=True)
                lv.pyramid_down = FirDownsample2D(pyramid_ch, ch, use_conv=True, fir_kernel=tuple(fir_kernel))
                pyramid_ch = ch
                skips.append(ch)
                res //= 2
            self.down.append(lv)

        self.mid = nn.ModuleList([resnet(ch), attention(ch), resnet(ch)])

        # Decoder: per level, num_res_blocks + 1 res blocks on [h, skip], one attention at the
        # end of an attention level, then an up res block (except at full resolution).
        self.up = nn.ModuleList()
        for level, mult in reversed(list(enumerate(ch_mult))):
            lv = nn.Module()
            lv.resnets = nn.ModuleList()
            for _ in range(num_res_blocks + 1):
                lv.resnets.append(resnet(ch + skips.pop(), nf * mult))
                ch = nf * mult
            lv.attention = attention(ch) if res in attn_resolutions else None
            if level > 0:
                lv.resnet_up = resnet(ch, up=True)
                res *= 2
            self.up.append(lv)
        assert not skips

        self.norm_out = nn.GroupNorm(_groups(ch), ch, eps=eps)
        self.conv_out = nn.Conv2d(ch, in_channels, 3, padding=1)

    def forward(self, x, t, class_labels=None):
        if class_labels is not None:
            raise ValueError('the CIFAR10 NCSN++ is unconditional')
        t = torch.as_tensor(t, dtype=x.dtype, device=x.device).reshape(-1).expand(x.shape[0])
        emb = self.time_embedding(self.time_proj(t * self.time_scale).to(x.dtype))

        pyramid, h = x, self.conv_in(x)
        hs = [h]
        for lv in self.down:
            for i, block in enumerate(lv.resnets):
                h = block(h, emb)
                if len(lv.attentions):
                    h = lv.attentions[i](h)
                hs.append(h)
            if hasattr(lv, 'resnet_down'):
                h = lv.resnet_down(h, emb)
                pyramid = h = (lv.pyramid_down(pyramid) + h) / math.sqrt(2.0)
                hs.append(h)

        h = self.mid[0](h, emb)
        h = self.mid[1](h)
        h = self.mid[2](h, emb)

        for lv in self.up:
            for block in lv.resnets:
                h = block(torch.cat([h, hs.pop()], dim=1), emb)
            if lv.attention is not None:
                h = lv.attention(h)
            if hasattr(lv, 'resnet_up'):
                h = lv.resnet_up(h, emb)
        return self.conv_out(nn.functional.silu(self.norm_out(h)))

#----------------------------------------------------------------------------
# ADM (ImageNet64, LSUN 256).

class ADMGenerator(nn.Module):
    """guided-diffusion's ADM as a diffusers `UNet2DModel`. forward(x, t[, class_labels])."""

    def __init__(self, resolution, model_channels, channel_mult, num_res_blocks, attn_resolutions,
                 head_channels=64, scale_shift=True, num_classes=None, in_channels=3, dropout=0.0):
        super().__init__()
        down = tuple('AttnDownBlock2D' if resolution >> i in attn_resolutions else 'ResnetDownsampleBlock2D'
                     for i in range(len(channel_mult)))
        up = tuple('AttnUpBlock2D' if t == 'AttnDownBlock2D' else 'ResnetUpsampleBlock2D'
                   for t in reversed(down))
        self.unet = UNet2DModel(
            sample_size=resolution, in_channels=in_channels, out_channels=in_channels,
            block_out_channels=tuple(model_channels * m for m in channel_mult),
            layers_per_block=num_res_blocks, down_block_types=down, up_block_types=up,
            downsample_type='resnet', upsample_type='resnet', attention_head_dim=head_channels,
            resnet_time_scale_shift='scale_shift' if scale_shift else 'default',
            attn_norm_num_groups=32,          # ADM's mid attention has a GroupNorm in both modes
            norm_num_groups=32, norm_eps=1e-5, act_fn='silu', dropout=dropout,
            flip_sin_to_cos=True, freq_shift=0,     # guided-diffusion timestep_embedding: [cos, sin]
            num_class_embeds=num_classes)

    def forward(self, x, t, class_labels=None):
        t = t.reshape(-1).expand(x.shape[0]) if torch.is_tensor(t) else t
        return self.unet(x, t, class_labels=class_labels).sample

#----------------------------------------------------------------------------
# Initialisation of the official code (see the module docstring).

def _official_init(net, arch):
    zero = []
    for m in net.modules():
        if isinstance(m, ResnetBlock2D):
            zero.append(m.conv2)
        elif isinstance(m, Attention):
            zero.append(m.to_out[0])
    zero.append(net.conv_out if arch == 'ncsnpp' else net.unet.conv_out)
    if arch == 'ncsnpp':
        for m in net.modules():
            if isinstance(m, (nn.Conv2d, nn.Linear)):
                nn.init.xavier_uniform_(m.weight)
                nn.init.zeros_(m.bias)
    for m in zero:
        nn.init.zeros_(m.weight)
        nn.init.zeros_(m.bias)
    return net


def build_ct_generator(name, official_init=True, dropout=0.0):
    """The CT backbone F for `name` in CT_NETWORKS, callable as F(x, t[, class_labels])."""
    c = dict(CT_NETWORKS[name])
    arch = c.pop('arch')
    if arch == 'ncsnpp':
        del c['num_classes']        # unconditional
        net = NCSNpp(dropout=dropout, **c)
    else:
        net = ADMGenerator(dropout=dropout, **c)
    return _official_init(net, arch) if official_init else net
