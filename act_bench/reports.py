"""Aggregation (one row per run), the Markdown comparison table and the seaborn plots."""

import json
from pathlib import Path

import pandas as pd

from .accounting import gpu_hours, sacct_gpu_hours, slurm_job_ids
from .config import expand_runs

VARIANT_ORDER = ['CT', 'ACT', 'ACT-Aug']


def variant(method, augment):
    return 'CT' if method == 'ct' else ('ACT-Aug' if augment == 'on' else 'ACT')


def _slug(sampler):
    return sampler.replace('-', '')


def _read_json(path):
    return json.loads(Path(path).read_text())


def aggregate(config, root, sacct=sacct_gpu_hours):
    """Rows of summary.csv: the run's wildcards, metrics per sampler, parameter counts, time and GPU-hours
    (measured; and allocated, from `sacct`, when the run's jobs ran under SLURM)."""
    rows = []
    for run in expand_runs(config):
        d = Path(root) / run.path
        evaluation = _read_json(d / 'metrics.json')
        metrics = evaluation['records']
        params = _read_json(d / 'params.json')
        summary = _read_json(d / 'train_summary.json')
        row = {'config': config['name'], **run.wildcards, 'variant': variant(run.method, run.augment),
               'primary_metric': f"{metrics[0]['metric']}_{_slug(metrics[0]['sampler'])}"}
        for r in metrics:
            row[f"{r['metric']}_{_slug(r['sampler'])}"] = r['value']
        row.update({f'params_{k}': v for k, v in params.items()})
        for key in ('iterations', 'images_seen', 'train_seconds', 'checkpoint_seconds', 'lost_seconds', 'wall_seconds',
                    'device', 'device_name', 'n_devices', 'device_hours', 'attempts', 'final_loss'):
            row[key] = summary[key]
        jobs = evaluation.get('jobs', [])
        row.update(gpu_hours(summary, jobs))
        ids = slurm_job_ids(summary, jobs)
        row['slurm_job_ids'] = ' '.join(ids)
        row['sacct_gpu_hours'] = sacct(ids)
        rows.append(row)
    return pd.DataFrame(rows)

#----------------------------------------------------------------------------

def _mean_std(values):
    values = values.dropna()
    if len(values) == 0:
        return '—'
    if len(values) == 1:
        return f'{values.iloc[0]:.4g} (n=1)'
    return f'{values.mean():.4g} ± {values.std(ddof=1):.2g} (n={len(values)})'


def _markdown(df):
    cols = [str(c) for c in df.columns]
    lines = ['| ' + ' | '.join(cols) + ' |', '|' + '---|' * len(cols)]
    lines += ['| ' + ' | '.join(str(v) for v in row) + ' |' for row in df.itertuples(index=False)]
    return '\n'.join(lines)


def _floors(reference_files):
    floors = {}
    for path in reference_files:
        ref = _read_json(path)
        for r in ref['records']:
            floors[(ref['dataset'], r['metric'])] = r['value']
    return floors


def comparison_table(summary, floors=None):
    """Markdown: per dataset, the primary metric (mean ± std over seeds) with CT / ACT / ACT-Aug side by side,
    then the other metrics, parameter counts and device-hours per variant."""
    floors = floors or {}
    out = [f"# Summary: config `{summary['config'].iloc[0]}`", '',
           'Lower is better for every metric. Mean ± sample std over seeds; n = number of seeds. '
           '`fd_digits` is a Fréchet distance in the feature space of a small digits classifier, not FID. '
           'The data floor is the same metric between a training subsample and the held-out split.']
    keys = ['model', 'batch_size']
    for dataset, df in summary.groupby('dataset', sort=False):
        primary = df['primary_metric'].iloc[0]
        metric_name = primary.rsplit('_', 1)[0]
        floor = floors.get((dataset, metric_name))
        out += ['', f'## {dataset}: `{primary}`' + (f' (data floor {floor:.4g})' if floor is not None else ''), '']
        variants = [v for v in VARIANT_ORDER if v in set(df['variant'])]
        side = df.groupby(keys + ['variant'])[primary].apply(_mean_std).unstack('variant')
        side = side.reindex(columns=variants).fillna('—').reset_index()
        out.append(_markdown(side))
        metric_cols = [c for c in df.columns if c.endswith(('_1step', '_2step')) and df[c].notna().any()]
        detail = df.groupby(keys + ['variant'], sort=False).agg(
            **{c: (c, _mean_std) for c in metric_cols},
            params_train=('params_training_total', 'first'), params_inference=('params_inference_total', 'first'),
            device_hours=('device_hours', 'mean'), wall_seconds=('wall_seconds', 'mean')).reset_index()
        detail['variant'] = pd.Categorical(detail['variant'], VARIANT_ORDER)
        detail = detail.sort_values(keys + ['variant'])
        detail['device_hours'] = detail['device_hours'].map(lambda v: f'{v:.2g}')
        detail['wall_seconds'] = detail['wall_seconds'].map(lambda v: f'{v:.1f}')
        out += ['', _markdown(detail)]
    return '\n'.join(out) + '\n'


def write_table(summary_path, reference_files, out):
    summary = pd.read_csv(summary_path)
    Path(out).parent.mkdir(parents=True, exist_ok=True)
    Path(out).write_text(comparison_table(summary, _floors(reference_files)))

#----------------------------------------------------------------------------

def training_curves(config, root):
    frames = []
    runs = expand_runs(config)
    augmented = any(run.augment == 'on' for run in runs)
    for run in runs:
        log = pd.read_json(Path(root) / run.path / 'train_log.jsonl', lines=True)
        quantities = ('loss_consistency', 'loss_adv', 'loss_d') + (('aug_p',) if augmented else ())
        keep = [c for c in quantities if c in log.columns]
        long = log.melt(id_vars=['images_seen'], value_vars=keep, var_name='quantity', value_name='value')
        long = long.assign(dataset=run.dataset, variant=variant(run.method, run.augment),
                           batch_size=run.batch_size, seed=run.seed)
        frames.append(long.dropna(subset=['value']))
    return pd.concat(frames, ignore_index=True)


def write_plots(config, summary_path, root, out_dir):
    import matplotlib
    matplotlib.use('Agg')
    import seaborn as sns

    out_dir.mkdir(parents=True, exist_ok=True)
    summary = pd.read_csv(summary_path)
    summary['metric'] = [row[row['primary_metric']] for _, row in summary.iterrows()]
    summary['dataset_metric'] = summary['dataset'] + ': ' + summary['primary_metric']
    grid = sns.relplot(data=summary, kind='line', x='batch_size', y='metric', hue='variant',
                       hue_order=[v for v in VARIANT_ORDER if v in set(summary['variant'])],
                       col='dataset_metric', col_wrap=min(3, summary['dataset'].nunique()), marker='o',
                       errorbar='sd', facet_kws={'sharey': False, 'sharex': False}, height=3.2)
    grid.set(xscale='log')
    grid.set_titles('{col_name}')
    grid.set_axis_labels('batch size (generator images per step)', 'metric (lower is better)')
    for name, ax in grid.axes_dict.items():
        ticks = sorted(summary.loc[summary['dataset_metric'] == name, 'batch_size'].unique())
        ax.set_xticks(ticks, [str(t) for t in ticks])
        ax.minorticks_off()
    grid.savefig(out_dir / 'metric_vs_batch_size.png', dpi=110)

    curves = training_curves(config, root)
    grid = sns.relplot(data=curves, kind='line', x='images_seen', y='value', hue='variant',
                       hue_order=[v for v in VARIANT_ORDER if v in set(curves['variant'])],
                       style='batch_size', row='quantity', col='dataset', errorbar='sd',
                       facet_kws={'sharey': False, 'sharex': False}, height=2.4, aspect=1.3)
    grid.set_titles('{col_name} | {row_name}')
    grid.savefig(out_dir / 'training_curves.png', dpi=90)
    return [out_dir / 'metric_vs_batch_size.png', out_dir / 'training_curves.png']
