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

from act_bench.training.networks import UNetEncoderDiscriminator, UNetGenerator

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


#----------------------------------------------------------------------------
# Builders: the shared UNet classes of act_bench.training.networks with the official settings.

def _attention_levels(resolution, n_levels):
    return tuple(i for i in range(n_levels) if resolution >> i == ATTENTION_RESOLUTION)


def build_paper_generator(name, official_six_channels=True):
    """F(x, t[, class_labels]) -> [B, 3, H, W]; the official 6-output CIFAR net keeps channels 3:6."""
    c = PAPER_NETWORKS[name]
    return UNetGenerator(c['resolution'], c['g_channels'], in_channels=3,
                         out_channels=c['g_out_channels'] if official_six_channels else 3,
                         layers_per_block=G_LAYERS_PER_BLOCK,
                         attention_levels=_attention_levels(c['resolution'], len(c['g_channels'])),
                         head_dim=c['g_head_dim'], norm_groups=32, num_classes=c['num_classes'],
                         flip_sin_to_cos=c['flip_sin_to_cos'], freq_shift=c['freq_shift'])


def build_paper_discriminator(name, unused_head=True):
    """D(x, t[, class_labels]) -> [B] logits (official UNet2DModelDiscriminator)."""
    c = PAPER_NETWORKS[name]
    return UNetEncoderDiscriminator(c['d_channels'], in_channels=3, layers_per_block=D_LAYERS_PER_BLOCK,
                                    attention_levels=_attention_levels(c['resolution'], len(c['d_channels'])),
                                    head_dim=c['d_head_dim'], norm_groups=32, num_classes=c['num_classes'],
                                    final_norm=c['d_final_norm'], flip_sin_to_cos=c['flip_sin_to_cos'],
                                    freq_shift=c['freq_shift'], unused_head=unused_head)
