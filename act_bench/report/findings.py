"""What the numbers say, generated from them: per dataset, which method is better at equal iterations and at
equal cost (device-seconds, data images drawn), by how much relative to the spread over seeds, and whether
each method's metric-over-training curve had flattened. Inputs: summary.csv rows and the runs' metric curves
(one-step metric of the EMA snapshots) as a long frame (`curve_frame`). Lower is better for every metric
these read (W2, fd_digits, FID)."""

import json
from pathlib import Path

import pandas as pd

from act_bench import layout
from act_bench.methods import METHOD_TRAITS
from act_bench.report import aggregate

BUDGETS = {'device_seconds': 'device-seconds', 'data_images_seen': 'data images drawn'}
FLAT_FRACTION = 0.25    # a curve is judged over this last fraction of training
FLAT_TOLERANCE = 0.10   # ... and is flat when its metric moved by less than this fraction there
LABEL = 'label'         # the column naming a run's method and variant (e.g. CT, ACT lambda0.9)
RUN_KEY = [LABEL, 'batch_size', 'model', 'seed']


def run_labels(run_dir):
    """A run's identity read from its directory (layout.RUN_WILDCARDS, its variant) and what its lines and
    rows are called: method_label (CT, iCT, ACT, ACT-Aug) and label (with the variant, when it has one)."""
    run = layout.parse_run_dir(run_dir)
    method, variant = aggregate.method_label(run['method'], run['augment']), layout.variant_of(run['variant_dir'])
    return {**{key: run[key] for key in layout.RUN_WILDCARDS if key != 'variant_dir'}, 'variant': variant,
            'method_label': method, 'label': aggregate.label(method, variant)}


def metric_curves(run_dirs):
    """Long frame of every run's metric_curve.json records with the run's labels, and why runs were skipped."""
    frames, skipped = [], set()
    for run_dir in run_dirs:
        curve = json.loads((Path(run_dir) / layout.METRIC_CURVE).read_text())
        if curve['skipped']:
            skipped.add(curve['skipped'])
        if curve['records']:
            frames.append(pd.DataFrame(curve['records']).assign(**run_labels(run_dir)))
    return (pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()), sorted(skipped)


def curve_frame(curves, summary):
    """`curves` (metric_curves) with the cost of each snapshot: data_images_seen (generator images × the
    method's data images per generator image) and device_seconds (its training seconds × the run's devices,
    from summary.csv)."""
    if curves.empty:
        return curves
    summary = summary.assign(variant=summary['variant'].astype(object).fillna('') if 'variant' in summary.columns else '')
    keys = [key for key in layout.RUN_WILDCARDS if key != 'variant_dir'] + ['variant']
    devices = summary[keys + ['n_devices']].astype({k: curves[k].dtype for k in keys})
    curves = curves.merge(devices, on=keys, how='left').fillna({'n_devices': 1})
    per_image = curves['method'].map(lambda m: METHOD_TRAITS[m].data_per_generator_image)
    return curves.assign(data_images_seen=curves['images_seen'] * per_image,
                         device_seconds=curves['train_seconds'] * curves['n_devices'])


def primary_curves(curves, primary):
    """The one-step records of the primary metric (e.g. `w2` of `w2_1step`)."""
    if curves.empty:
        return curves
    return curves[curves['metric'] == primary.rsplit('_', 1)[0]]


def at_common_budget(curves, budget):
    """(the largest budget every label's every seed reached, {label: [metric at that budget per seed]}): each run's
    last snapshot within the budget."""
    reached = curves.groupby(RUN_KEY)[budget].max()
    common = float(reached.min())
    within = curves[curves[budget] <= common * (1 + 1e-9)]
    last = within.sort_values(budget).groupby(RUN_KEY).tail(1)
    return common, {label: list(runs['value']) for label, runs in last.groupby(LABEL, sort=False)}


def flatness(curves):
    """{label: mean over seeds of the relative change of the metric over the last FLAT_FRACTION of training}."""
    changes = {}
    for key, run in curves.sort_values('images_seen').groupby(RUN_KEY, sort=False):
        label = key[0]
        end = run['images_seen'].iloc[-1]
        start = run[run['images_seen'] <= (1 - FLAT_FRACTION) * end]
        if start.empty:
            continue
        before, after = start['value'].iloc[-1], run['value'].iloc[-1]
        changes.setdefault(label, []).append((after - before) / abs(before) if before else 0.0)
    return {label: sum(c) / len(c) for label, c in changes.items()}


def comparison_sentence(values, where):
    """`values`: {label: [metric per seed]}. The better label (lower mean), the gap, and the gap in units of the
    seeds' spread (the larger of the two labels' sample std)."""
    means = {label: pd.Series(v).mean() for label, v in values.items()}
    if len(means) < 2:
        return None
    ranked = sorted(means, key=means.get)
    best, second = ranked[0], ranked[1]
    gap = means[second] - means[best]
    spread = max(pd.Series(values[label]).std(ddof=1) if len(values[label]) > 1 else float('nan')
                 for label in (best, second))
    n = min(len(values[best]), len(values[second]))
    if pd.isna(spread) or spread == 0:
        size = f'with {n} seed(s) no spread to compare the gap with'
    else:
        ratio = gap / spread
        size = (f'{ratio:.1f}× the spread over seeds' + (', within seed noise' if ratio < 1 else ''))
    return (f'{where}, {best} is better than {second}: {means[best]:.4g} vs {means[second]:.4g} '
            f'(gap {gap:.3g}, {size}; n = {n}).')


def flatness_sentence(changes):
    if not changes:
        return 'No metric-over-training curve to judge convergence by (no EMA snapshots).'
    parts = []
    for label, change in changes.items():
        verdict = 'had flattened' if abs(change) < FLAT_TOLERANCE else 'was still moving'
        parts.append(f'{label} {verdict} ({change:+.0%} over the last quarter of training)')
    return 'Curves of the one-step metric: ' + '; '.join(parts) + '.'


def dataset_findings(summary, curves):
    """Two or three sentences for one dataset's runs (`summary` rows, `curve_frame` of their snapshots)."""
    summary = summary.assign(label=[aggregate.label(m, v) for m, v in zip(summary['method_label'], summary['variant'])])
    primary = summary['primary_metric'].iloc[0]
    same_iterations = summary.groupby(LABEL, sort=False)[primary].apply(list).to_dict()
    iterations = sorted(set(summary['iterations']))
    where = f'At equal iterations ({", ".join(map(str, iterations))})' if len(iterations) < 3 else 'At the end'
    out = [comparison_sentence(same_iterations, where + f', final `{primary}`')]
    if not curves.empty:
        for budget, name in BUDGETS.items():
            common, values = at_common_budget(curves, budget)
            out.append(comparison_sentence(values, f'At equal cost ({common:.4g} {name}, the largest budget '
                                                   f'every run reached; metric of its last EMA snapshot within it)'))
    out.append(flatness_sentence(flatness(curves) if not curves.empty else {}))
    return ' '.join(s for s in out if s)


def budget_table(curves):
    """Per label: the metric at the largest budget every run reached, per budget kind (mean over seeds)."""
    rows = {}
    for budget, name in BUDGETS.items():
        common, values = at_common_budget(curves, budget)
        for label, v in values.items():
            rows.setdefault(label, {LABEL: label})[f'at {common:.4g} {name}'] = \
                f'{pd.Series(v).mean():.4g} (n={len(v)})'
    return pd.DataFrame(list(rows.values()))
