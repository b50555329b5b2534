"""Parameter counts to place beside ours: the official code's (measured by instantiating its classes)
and what the ACT paper reports. The discrepancies between them are part of what the suite reports."""

from .ct_networks import CT_OFFICIAL_COUNTS
from .paper_networks import OFFICIAL_COUNTS

# ACT paper (Kong et al., CVPR 2024), as quoted in the benchmark's issue: CT 73.9 M vs ACT 27.5 M
# (+ D = 41.6 M for training) on CIFAR10; CT 282 M vs ACT 107 M (+ D = 161 M) on ImageNet64.
# Nothing is quoted for LSUN Cat 256.
PAPER_REPORTED = {
    'act-cifar10': {'inference_total': 27.5e6, 'training_total': 41.6e6},
    'act-imagenet64': {'inference_total': 107e6, 'training_total': 161e6},
    'ct-cifar10': {'inference_total': 73.9e6, 'training_total': 73.9e6},
    'ct-imagenet64': {'inference_total': 282e6, 'training_total': 282e6},
}


def official_counts(model):
    g_name, d_name = model.get('generator'), model.get('discriminator')
    if g_name is None:
        return None
    family, config = g_name.split('-', 1)
    g = CT_OFFICIAL_COUNTS[config] if family == 'ct' else OFFICIAL_COUNTS[config.replace('-', '_')]['generator']
    d = OFFICIAL_COUNTS[d_name.split('-', 1)[1].replace('-', '_')]['discriminator'] if d_name else 0
    return {'generator': g, 'discriminator': d, 'training_total': g + d, 'inference_total': g}


def reference_counts(model):
    """{'official_code': counts or None, 'paper_reported': counts or None} for a config's model entry."""
    return {'official_code': official_counts(model), 'paper_reported': PAPER_REPORTED.get(model.get('generator'))}
