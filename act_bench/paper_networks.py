"""Paper-scale networks of the official ACT code (github.com/kong13661/ACT), act-spec §6.

Generators are diffusers `UNet2DModel`s configured as in each official script's `get_model`
(train_cifar10.py, train_imagenet64.py, lsun_cat_256.py); discriminators rebuild the official
`UNet2DModelDiscriminator` (models/discriminator_cifar10.py, models/discriminator_imagenet.py):
the encoder half of the same UNet plus a pooled linear head. Both take the raw noise level σ as
their timestep input (act-spec §2, t_rescale=False); `SigmaConditioned` / `ConsistencyModel`
with sigma_embedding='raw' reproduce that.

Parameter counts reproduce the official instantiated modules (OFFICIAL_COUNTS), including two
official quirks that add parameters the forward pass never uses:
  * the CIFAR10 generator predicts 6 channels and keeps only channels 3:6 (models/unet.py);
  * every discriminator owns an unused second head `to_logit_fx` = Linear(4·C_last, 1).
Both are on by default and can be switched off (`official_six_channels`, `unused_head`).
"""

import torch
from diffusers import UNet2DModel
from diffusers.models.unets.unet_2d_blocks import UNetMidBlock2D, get_down_block
from torch import nn

from act_bench.networks import SigmaEmbedding, use_classic_attention

#----------------------------------------------------------------------------
# Per-config architecture settings (act-spec §6.1, §6.2). Attention sits at the level whose
# resolution is 16×16, down and up, plus the mid block. head_dim None = one head per block.

PAPER_NETWORKS = {
    'cifar10': dict(
        resolution=32, num_classes=None, flip_sin_to_cos=True, freq_shift=0,
        g_channels=(128, 128, 256, 256), g_head_dim=8, g_out_channels=6,
        d_channels=(128, 256, 256, 256), d_head_dim=8, d_final_norm=True),
    'imagenet64': dict(
        resolution=64, num_classes=1000, flip_sin_to_cos=True, freq_shift=0,
        g_channels=(128, 256, 256, 512, 512), g_head_dim=16, g_out_channels=3,
        d_channels=(128, 256, 256, 512, 512), d_head_dim=16, d_final_norm=False),
    'lsun_cat256': dict(
        resolution=256, num_classes=None, flip_sin_to_cos=False, freq_shift=1,
        g_channels=(128, 128, 256, 256, 512, 512), g_head_dim=None, g_out_channels=3,
        d_channels=(128, 128, 256, 256, 512, 512), d_head_dim=None, d_final_norm=False),
}
ATTENTION_RESOLUTION = 16
G_LAYERS_PER_BLOCK = 2      # 2 ResNets per down level, 3 per up level
D_LAYERS_PER_BLOCK = 3      # 3 ResNets per down level

# Measured by instantiating these builders with their defaults (both quirks included); they
# round to the official 27.50 / 17.98 / 107.60 / 53.90 / 113.67 / 56.99 M (act-spec §6).
# Evidence for the unused head: without it the LSUN discriminator has 56,983,041 (56.98 M).
# The CIFAR generator rounds to 27.50 M either way (3 outputs: 27,495,427); we keep the six
# channels because the official count comes from instantiating the 6-output module.
OFFICIAL_COUNTS = {
    'cifar10':     {'generator': 27_498_886,  'discriminator': 17_976_834},
    'imagenet64':  {'generator': 107_601_667, 'discriminator': 53_901_570},
    'lsun_cat256': {'generator': 113_673_219, 'discriminator': 56_985_090},
}
# The rounded figures of act-spec §6, in millions.
PAPER_COUNTS_M = {
    'cifar10':     {'generator': 27.50,  'discriminator': 17.98},
    'imagenet64':  {'generator': 107.60, 'discriminator': 53.90},
    'lsun_cat256': {'generator': 113.67, 'discriminator': 56.99},
}


def _block_types(resolution, n_levels):
    down = tuple('AttnDownBlock2D' if resolution >> i == ATTENTION_RESOLUTION else 'DownBlock2D'
                 for i in range(n_levels))
    return down, tuple(t.replace('Down', 'Up') for t in reversed(down))

#----------------------------------------------------------------------------
# Generator: F(x, t[, class_labels]) -> [B, 3, H, W].

class PaperGenerator(nn.Module):
    def __init__(self, resolution, channels, head_dim, out_channels=3, num_classes=None,
                 flip_sin_to_cos=True, freq_shift=0):
        super().__init__()
        down, up = _block_types(resolution, len(channels))
        self.unet = UNet2DModel(
            sample_size=resolution, in_channels=3, out_channels=out_channels,
            layers_per_block=G_LAYERS_PER_BLOCK, block_out_channels=tuple(channels),
            down_block_types=down, up_block_types=up, attention_head_dim=head_dim,
            num_class_embeds=num_classes, flip_sin_to_cos=flip_sin_to_cos, freq_shift=freq_shift)

    def forward(self, x, t, class_labels=None):
        t = t.reshape(-1).expand(x.shape[0]) if torch.is_tensor(t) else t
        out = self.unet(x, t, class_labels=class_labels).sample
        return out[:, -3:]      # the official 6-channel CIFAR net keeps channels 3:6


def build_paper_generator(name, official_six_channels=True):
    c = PAPER_NETWORKS[name]
    out_channels = c['g_out_channels'] if official_six_channels else 3
    return PaperGenerator(c['resolution'], c['g_channels'], c['g_head_dim'], out_channels,
                          c['num_classes'], c['flip_sin_to_cos'], c['freq_shift'])

#----------------------------------------------------------------------------
# Discriminator: D(x, t[, class_labels]) -> [B] logits.

class PaperDiscriminator(nn.Module):
    """Official UNet2DModelDiscriminator: conv_in → down blocks → mid → [GroupNorm] → SiLU →
    AdaptiveAvgPool2d(2) → Linear(4·C_last, 1), conditioned on a σ (+ class) embedding."""

    def __init__(self, resolution, channels, head_dim, num_classes=None, final_norm=True,
                 flip_sin_to_cos=True, freq_shift=0, unused_head=True, groups=32, eps=1e-5):
        super().__init__()
        temb, last = 4 * channels[0], channels[-1]
        self.embed = SigmaEmbedding(channels[0], temb, flip_sin_to_cos, freq_shift)
        self.class_embed = nn.Embedding(num_classes, temb) if num_classes else None
        self.conv_in = nn.Conv2d(3, channels[0], 3, padding=1)
        blocks, prev = [], channels[0]
        for i, (ch, kind) in enumerate(zip(channels, _block_types(resolution, len(channels))[0])):
            blocks.append(get_down_block(
                kind, num_layers=D_LAYERS_PER_BLOCK, in_channels=prev, out_channels=ch,
                temb_channels=temb, add_downsample=i < len(channels) - 1, resnet_eps=eps,
                resnet_act_fn='silu', resnet_groups=groups, attention_head_dim=head_dim or ch,
                downsample_padding=1))
            prev = ch
        self.down = nn.ModuleList(blocks)
        self.mid = UNetMidBlock2D(last, temb, resnet_eps=eps, resnet_groups=groups,
                                  attention_head_dim=head_dim or last)
        self.head = nn.Sequential(nn.GroupNorm(groups, last, eps=eps) if final_norm else nn.Identity(),
                                  nn.SiLU(), nn.AdaptiveAvgPool2d(2), nn.Flatten(), nn.Linear(4 * last, 1))
        # Official quirk: a second head that no forward pass uses (counted in OFFICIAL_COUNTS).
        self.to_logit_fx = nn.Linear(4 * last, 1) if unused_head else None
        use_classic_attention(self)     # R1 needs double backward through attention

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


def build_paper_discriminator(name, unused_head=True):
    c = PAPER_NETWORKS[name]
    return PaperDiscriminator(c['resolution'], c['d_channels'], c['d_head_dim'], c['num_classes'],
                              c['d_final_norm'], c['flip_sin_to_cos'], c['freq_shift'], unused_head)
