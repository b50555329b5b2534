"""The study of the ACT paper's claims (config `study:`), from summary.csv and the runs' metric curves: per
dataset, the cells (method × model × batch size, mean and Student-t interval over seeds), paired
differences against the baseline at the same setting, and a verdict per claim computed from the intervals:
(a) the challenger at a batch ≤ 1/batch_ratio of the baseline's, (b) with ≤ 1/params_ratio of its
inference parameters, (c) at steps_fraction of its training steps, (d) ACT-Aug against ACT. Lower is better
for every primary metric (W2, fd_digits, FID), so a claim's side is below 0. Written as study.md and
study.tex, with act_bench.report.study_plots per dataset."""

import math
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from act_bench.methods import METHOD_TRAITS
from act_bench.report import aggregate
from act_bench.report.findings import metric_curves, primary_curves
from act_bench.report.plots import label_rank
from act_bench.report.stats import paired_difference, welch_difference
from act_bench.report.study_plots import STUDY_PLOTS, write_study_plots
from act_bench.report.tables import (commits_note, count, decimals, mean_ci, read_summary, render_latex,
                                     render_markdown)
from act_bench.runtime.errors import ConfigError

CELL = ['label', 'model', 'batch_size']
SUPPORTED, CONTRADICTED, INCONCLUSIVE, UNTESTED = 'supported', 'contradicted', 'inconclusive at this scale', \
    'not tested'
VERDICT_RULE = ('Verdict rule: *supported* when at least one comparison\'s interval lies entirely below 0 (the '
                'claim\'s side: lower is better) and none entirely above; *contradicted* when at least one lies '
                'entirely above 0 and none below; otherwise *inconclusive at this scale*; *not tested* when the '
                'sweep holds no cells for the claim. A comparison with fewer than 2 seeds on a side has no '
                'interval and counts for neither side.')


@dataclass(frozen=True)
class Claims:
    """A config's `study:` block, with the labels of the runs it compares."""
    baseline: str          # e.g. CT
    challenger: str        # e.g. ACT
    augmented: object      # the challenger with augmentation (ACT-Aug), or None
    batch_ratio: float
    params_ratio: float
    steps_fraction: float
    confidence: float


def claims_of(config):
    """The Claims of a config; a ConfigError when it has no `study:` block or compares a method with itself."""
    study = config.get('study')
    if study is None:
        raise ConfigError(f"config {config['name']} has no `study:` block; add one (act_bench/config.schema.yaml) "
                          'to compare the paper\'s claims')
    if study['baseline'] == study['challenger']:
        raise ConfigError(f"study.baseline and study.challenger are both {study['baseline']}; name two methods")
    traits = METHOD_TRAITS[study['challenger']]
    return Claims(METHOD_TRAITS[study['baseline']].label, traits.label,
                  aggregate.method_label(traits.name, 'on') if traits.augmentable else None,
                  study['batch_ratio'], study['params_ratio'], study['steps_fraction'], study['confidence'])


@dataclass(frozen=True)
class Comparison:
    name: str              # e.g. 'ACT@8 − CT@64'
    interval: object       # stats.Interval of the difference
    reference: float       # mean of the side subtracted, for the relative difference
    note: str = ''         # e.g. 'n < 2 in ACT@8'

    @property
    def relative(self):
        return self.interval.mean / self.reference if self.reference else math.nan

#----------------------------------------------------------------------------
# Text of a difference.

def signed(x, places):
    return f'{x:+.{places}f}'.replace('-', '−')


def difference_text(interval):
    """'−0.0120 [−0.0200, −0.0040]', or the mean alone when it has no interval."""
    if interval.n == 0:
        return '—'
    if not interval.defined:
        return f'{signed(interval.mean, decimals(interval.mean))} (no interval: n < 2)'
    d = decimals(max(abs(interval.mean), abs(interval.lo), abs(interval.hi)))   # 3 digits of the largest
    return f'{signed(interval.mean, d)} [{signed(interval.lo, d)}, {signed(interval.hi, d)}]'


def percent(x):
    return '—' if math.isnan(x) else f'{100 * x:+.1f} %'.replace('-', '−')

#----------------------------------------------------------------------------
# Cells and comparisons.

def cells(runs, column):
    """{(label, model, batch_size): `column` of the cell's runs, indexed by seed}."""
    return {key: group.set_index('seed')[column] for key, group in runs.groupby(CELL, sort=False)}


def cell_name(key, with_model):
    label, model, batch = key
    return f'{label}@{batch}' + (f' {model}' if with_model else '')


def few_seeds(values, names):
    """'n < 2 in …' for each side with fewer than two seeds."""
    return '; '.join(f'n < 2 in {name}' for v, name in zip(values, names) if v.notna().sum() < 2)


def welch(table, a, b, confidence, with_model, note=''):
    """Comparison of cells a − b (unpaired: different settings)."""
    names = [cell_name(a, with_model), cell_name(b, with_model)]
    sides = [table[a], table[b]]
    notes = '; '.join(s for s in (few_seeds(sides, names), note) if s)
    return Comparison(f'{names[0]} − {names[1]}', welch_difference(*sides, confidence), sides[1].mean(), notes)


def paired(a, b, name, names, confidence):
    """Comparison of a − b (Series by seed) over the seeds both have."""
    seeds = a.dropna().index.intersection(b.dropna().index)
    note = f'n < 2: {len(seeds)} seed(s) shared by {names[0]} and {names[1]}' if len(seeds) < 2 else ''
    return Comparison(name, paired_difference(a, b, confidence), b[seeds].mean(), note)


def paired_cells(table, a, b, confidence, with_model):
    names = [cell_name(a, with_model), cell_name(b, with_model)]
    return paired(table[a], table[b], f'{names[0]} − {names[1]}', names, confidence)


def same_setting_pairs(table, claims):
    """(a, b) cell keys compared at one setting: every label against the baseline, ACT-Aug against ACT."""
    pairs = [(k, (claims.baseline, *k[1:])) for k in table if k[0] != claims.baseline]
    pairs += [(k, (claims.challenger, *k[1:])) for k in table if k[0] == claims.augmented]
    pairs = [(a, b) for a, b in pairs if b in table]
    return sorted(pairs, key=lambda p: (label_rank(p[1][0]), label_rank(p[0][0]), p[0][1], p[0][2]))

#----------------------------------------------------------------------------
# The claims, each a list of comparisons.

def batch_comparisons(table, claims, with_model):
    """(a) For each baseline batch B: the challenger at the largest batch b ≤ B / batch_ratio (same model)."""
    out = []
    for label, model, big in sorted(k for k in table if k[0] == claims.baseline):
        small = [b for l, m, b in table if (l, m) == (claims.challenger, model) and b <= big / claims.batch_ratio]
        if small:
            out.append(welch(table, (claims.challenger, model, max(small)), (label, model, big), claims.confidence,
                             with_model))
    return out


def model_comparisons(table, params, claims):
    """(b) At each batch with several model sizes: the challenger's smallest model against the baseline's largest
    (by inference parameters), with the ratio tested."""
    out = []
    for batch in sorted({b for _, _, b in table}):
        mine = {m: params[(l, m)] for l, m, b in table if (l, b) == (claims.challenger, batch)}
        theirs = {m: params[(l, m)] for l, m, b in table if (l, b) == (claims.baseline, batch)}
        if not mine or not theirs or len(set(mine) | set(theirs)) < 2:
            continue
        small, large = min(mine, key=mine.get), max(theirs, key=theirs.get)
        ratio = theirs[large] / mine[small]
        if ratio <= 1:
            continue
        short = '' if ratio >= claims.params_ratio else f", short of the claim's {claims.params_ratio:g}×"
        note = (f'{small} {count(mine[small])} vs {large} {count(theirs[large])} inference parameters: '
                f'{ratio:.3g}× fewer{short}')
        out.append(welch(table, (claims.challenger, small, batch), (claims.baseline, large, batch),
                         claims.confidence, True, note))
    return out


def snapshot_values(curves, fraction):
    """{cell: the value and step of each seed's last EMA snapshot at or before fraction · K, indexed by seed}."""
    within = curves[curves['step'] <= fraction * curves['iterations'] + 1e-9]
    last = within.sort_values('step').groupby(CELL + ['seed']).tail(1)
    return {key: group.set_index('seed')[['value', 'step']] for key, group in last.groupby(CELL)}


def steps_of(frame):
    return '/'.join(str(int(s)) for s in sorted(set(frame['step'])))


def steps_comparisons(curves, claims, with_model):
    """(c) Per batch (and model): the challenger's snapshot at steps_fraction · K against the baseline's at K,
    both from the metric curves, paired by seed."""
    if curves.empty:
        return []
    early, full = snapshot_values(curves, claims.steps_fraction), snapshot_values(curves, 1.0)
    out = []
    for key, mine in early.items():
        other = (claims.baseline, *key[1:])
        if key[0] != claims.challenger or other not in full:
            continue
        theirs = full[other]
        names = [cell_name(key, with_model), cell_name(other, with_model)]
        name = f'{names[0]} step {steps_of(mine)} − {names[1]} step {steps_of(theirs)}'
        out.append(paired(mine['value'], theirs['value'], name, names, claims.confidence))
    return out


def augment_comparisons(table, claims, with_model):
    """(d) ACT-Aug − ACT at each setting that has both, paired by seed."""
    return [paired_cells(table, a, b, claims.confidence, with_model) for a, b in same_setting_pairs(table, claims)
            if (a[0], b[0]) == (claims.augmented, claims.challenger)]


def verdict(comparisons):
    """The verdict rule (VERDICT_RULE) over the comparisons' intervals."""
    if not comparisons:
        return UNTESTED
    below = any(c.interval.defined and c.interval.hi < 0 for c in comparisons)
    above = any(c.interval.defined and c.interval.lo > 0 for c in comparisons)
    if below != above:
        return SUPPORTED if below else CONTRADICTED
    return INCONCLUSIVE

#----------------------------------------------------------------------------
# Tables of one dataset.

def claim_rows(runs, curves, claims):
    """(claim, how compared, comparisons, what is missing when there are none) for claims (a)–(d)."""
    table = cells(runs, runs['primary_metric'].iloc[0])
    params = runs.groupby(['label', 'model'])['params_inference_total'].first().to_dict()
    with_model = runs['model'].nunique() > 1
    c, b = claims.challenger, claims.baseline
    return [
        (f'(a) batch: {c} at ≤ 1/{claims.batch_ratio:g} of {b}\'s batch is better', 'Welch (unpaired)',
         batch_comparisons(table, claims, with_model), f'no {c} batch ≤ 1/{claims.batch_ratio:g} of a {b} batch'),
        (f'(b) model size: {c} with ≤ 1/{claims.params_ratio:g} of {b}\'s inference parameters is better',
         'Welch (unpaired)', model_comparisons(table, params, claims), f'no batch size with a smaller {c} model '
                                                                      f'and a larger {b} model'),
        (f'(c) steps: {c} at {claims.steps_fraction:g}·K steps is better than {b} at K', 'paired by seed, metric '
         'curves', steps_comparisons(curves, claims, with_model),
         'no metric curves of both at one setting (train.snapshot_every: null?)'),
        (f'(d) augmentation: {claims.augmented} is better than {c}', 'paired by seed',
         augment_comparisons(table, claims, with_model), f'no {claims.augmented} runs')]


def verdict_table(runs, curves, claims):
    rows = []
    for claim, how, comparisons, missing in claim_rows(runs, curves, claims):
        rows.append({'claim': claim, 'verdict': verdict(comparisons), 'interval': how,
                     'evidence (difference [CI])': '; '.join(f'{x.name}: {difference_text(x.interval)}'
                                                             for x in comparisons) or missing,
                     'notes': '; '.join(x.note for x in comparisons if x.note) or '—'})
    return pd.DataFrame(rows)


def cell_table(runs, primary, confidence):
    """Mean [interval] (n) of the final metric, a row per method and model, a column per batch size."""
    table = runs.groupby(['label', 'model', 'batch_size'])[primary].apply(lambda v: mean_ci(v, confidence))
    table = table.unstack('batch_size').fillna('—')
    table.columns = [f'batch {b}' for b in table.columns]
    params = runs.groupby(['label', 'model'])['params_inference_total'].first().map(count)
    table.insert(0, 'params (inference)', params)
    table = table.reset_index().rename(columns={'label': 'method'})
    order = table['method'].map(label_rank).tolist()
    return table.iloc[sorted(range(len(table)), key=lambda i: (order[i], table['model'].iloc[i]))]


def paired_table(runs, claims):
    table = cells(runs, runs['primary_metric'].iloc[0])
    rows = []
    for a, b in same_setting_pairs(table, claims):
        x = paired_cells(table, a, b, claims.confidence, False)
        rows.append({'comparison': f'{a[0]} − {b[0]}', 'model': a[1], 'batch': a[2], 'pairs': x.interval.n,
                     'difference [CI]': difference_text(x.interval), 'relative': percent(x.relative),
                     'notes': x.note or '—'})
    return pd.DataFrame(rows) if rows else None

#----------------------------------------------------------------------------
# The document.

def header_text(summary, claims):
    seeds = summary.groupby(['dataset'] + CELL)['seed'].nunique()
    n = f'{seeds.min()}' if seeds.min() == seeds.max() else f'{seeds.min()}–{seeds.max()}'
    level = f'{100 * claims.confidence:g} %'
    return (f'{claims.challenger} (challenger) against {claims.baseline} (baseline); lower is better for every '
            f'metric here. Seeds per cell: n = {n}. Cells: mean and {level} Student-t confidence interval over '
            'seeds (n − 1 degrees of freedom). Same-setting differences (a − b): the t-interval of the per-seed '
            'differences over the seeds both cells have; differences across settings (batch or model sizes): '
            'Welch\'s interval (Welch–Satterthwaite degrees of freedom); relative = mean difference / b\'s mean. '
            f'{VERDICT_RULE} Claim (c) reads both sides from the EMA snapshots\' metric curves (one-step, '
            'evaluation.curve_samples samples), not from the final evaluation. ' + commits_note(summary))


def dataset_sections(dataset, runs, curves, claims):
    primary = runs['primary_metric'].iloc[0]
    images = ' '.join(f'![{stem}]({dataset}/{stem}.png)' for stem in STUDY_PLOTS)
    return [(f'{dataset}: verdicts, `{primary}`', '', verdict_table(runs, curves, claims)),
            (f'{dataset}: cells, final `{primary}`', 'Mean [interval] (n seeds) of each run\'s final metric.',
             cell_table(runs, primary, claims.confidence)),
            (f'{dataset}: paired differences at the same setting', 'a − b over matched seeds.',
             paired_table(runs, claims)),
            (f'{dataset}: plots', images, None)]


def with_iterations(curves, summary):
    """`curves` with each run's K (summary.csv `iterations`)."""
    if curves.empty:
        return curves.assign(iterations=pd.Series(dtype=float))
    keys = ['dataset'] + CELL + ['seed']
    return curves.merge(summary[keys + ['iterations']].astype({k: curves[k].dtype for k in keys}), on=keys)


def study_sections(summary, curves, claims):
    """(heading, text, table) sections of study.md: a header, then per dataset its verdicts, cells, paired
    differences and plots. `summary`: summary.csv rows with `label`; `curves`: metric_curves with `iterations`."""
    sections = [(f"Study: config `{summary['config'].iloc[0]}`", header_text(summary, claims), None)]
    for dataset, runs in summary.groupby('dataset', sort=False):
        found = primary_curves(curves[curves['dataset'] == dataset] if not curves.empty else curves,
                               runs['primary_metric'].iloc[0])
        sections += dataset_sections(dataset, runs, found, claims)
    return sections


def write_study(config, summary_path, run_dirs, out_dir):
    """study.md, study.tex and per dataset <dataset>/study_*.{png,pdf} under out_dir."""
    claims = claims_of(config)
    summary = read_summary(summary_path)
    summary = summary.assign(label=[aggregate.label(m, v) for m, v in zip(summary['method_label'],
                                                                        summary['variant'])])
    curves = with_iterations(metric_curves(run_dirs)[0], summary)
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    sections = study_sections(summary, curves, claims)
    (out_dir / 'study.md').write_text(render_markdown(sections))
    (out_dir / 'study.tex').write_text(render_latex(sections, 'study'))
    written = [out_dir / 'study.md', out_dir / 'study.tex']
    for dataset, runs in summary.groupby('dataset', sort=False):
        primary = runs['primary_metric'].iloc[0]
        found = primary_curves(curves[curves['dataset'] == dataset] if not curves.empty else curves, primary)
        written += write_study_plots(runs, found, primary, out_dir / dataset, claims.confidence,
                                     claims.steps_fraction)
    return written
