"""Parameter counts to place beside ours: the official code's (measured by instantiating its classes)
and what the ACT paper reports. The discrepancies between them are part of what the suite reports."""

from act_bench.training.ct_networks import CT_OFFICIAL_COUNTS
from act_bench.training.act_networks import OFFICIAL_COUNTS
from act_bench.report.paper_numbers import paper_value

# Which paper entry (act_bench/report/paper_numbers.yaml) reports the counts of a paper generator.
PAPER_ENTRY_OF_GENERATOR = {'act-cifar10': ('cifar10', 'ACT-Aug'), 'act-imagenet64': ('imagenet64', 'ACT'),
                            'act-lsun-cat256': ('lsun_cat256', 'ACT'), 'ct-cifar10': ('cifar10', 'CT'),
                            'ct-imagenet64': ('imagenet64', 'CT'), 'ct-lsun256': ('lsun_cat256', 'CT')}


def paper_reported(generator):
    """{'inference_total', 'training_total'} as the ACT paper reports them, or None (nothing reported)."""
    if generator not in PAPER_ENTRY_OF_GENERATOR:
        return None
    entry, variant = PAPER_ENTRY_OF_GENERATOR[generator]
    out = {}
    for key in ('inference_total', 'training_total'):
        value = paper_value(entry, variant, f'params_{key}')
        if value is not None:
            out[key] = value['value']
    return out or None


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
    return {'official_code': official_counts(model), 'paper_reported': paper_reported(model.get('generator'))}
