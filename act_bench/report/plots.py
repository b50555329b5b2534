"""Seaborn plots of one dataset's runs, each saved as PNG and PDF: metric vs batch size, metric vs
GPU-hours, losses over training, the metric over training (EMA snapshots), ACT-Aug's p over
training, and a grid of one-step samples per run. Bands over seeds are ± one sample std or the 95 %
Student-t interval (config report.spread)."""

from pathlib import Path

import numpy as np
import pandas as pd

from act_bench import layout
from act_bench.report.aggregate import METHOD_LABELS, label
from act_bench.report.findings import curve_frame, metric_curves, run_labels
from act_bench.report import stats
from act_bench.report.tables import hours_column

PLOTS = ['metric_vs_batch_size', 'metric_vs_gpu_hours', 'training_curves', 'metric_over_training', 'aug_p',
         'samples']
LOSSES = ('loss_consistency', 'loss_adv', 'loss_d')
SAMPLES_PER_RUN = 8


def _pyplot():
    import matplotlib
    matplotlib.use('Agg')
    import matplotlib.pyplot as plt
    return plt


def save(fig, out_dir, stem):
    """stem.png and stem.pdf under out_dir; the PDF without its creation date, so that a rerun of the same
    numbers writes the same bytes."""
    for ext, dpi, metadata in (('png', 100, None), ('pdf', None, {'CreationDate': None})):
        fig.savefig(Path(out_dir) / f'{stem}.{ext}', dpi=dpi, bbox_inches='tight', metadata=metadata)
    _pyplot().close(fig)


def note(ax, text):
    ax.text(0.5, 0.5, text, ha='center', va='center', wrap=True, fontsize=9, transform=ax.transAxes)
    ax.set_axis_off()


def label_rank(text):
    return METHOD_LABELS.index(text.split(' ')[0]), text


def hue_order(df):
    return sorted(set(df['label']), key=label_rank)


def band(spread):
    """seaborn's `errorbar` for config report.spread: ± one sample std, or the 95 % Student-t interval."""
    return 'sd' if spread == 'std' else stats.errorbar(0.95)


#----------------------------------------------------------------------------
# Inputs.

def training_logs(run_dirs):
    frames = []
    for run_dir in run_dirs:
        log = pd.read_json(Path(run_dir) / layout.TRAIN_LOG, lines=True)
        frames.append(log.assign(**run_labels(run_dir)))
    return pd.concat(frames, ignore_index=True)


#----------------------------------------------------------------------------
# Plots.

def metric_vs_batch_size(sns, summary, primary, errorbar='sd'):
    fig, ax = _pyplot().subplots(figsize=(4.5, 3.2))
    sns.lineplot(data=summary, x='batch_size', y=primary, hue='label', hue_order=hue_order(summary), marker='o',
                 errorbar=errorbar, ax=ax)
    ticks = sorted(summary['batch_size'].unique())
    ax.set_xscale('log')
    ax.set_xticks(ticks, [str(t) for t in ticks])
    ax.minorticks_off()
    ax.set(xlabel='batch size (generator images per step)', ylabel=f'{primary} (lower is better)')
    return fig


def metric_vs_gpu_hours(sns, summary, primary):
    column, name = hours_column(summary)
    fig, ax = _pyplot().subplots(figsize=(4.5, 3.2))
    sns.scatterplot(data=summary, x=column, y=primary, hue='label', hue_order=hue_order(summary),
                    style='batch_size', s=50, ax=ax)
    ax.set_xscale('log')
    ax.set(xlabel=f'{name} per run (log)', ylabel=f'{primary} (lower is better)')
    return fig


def quantities_over_training(sns, logs, quantities, errorbar='sd'):
    """One panel per logged quantity against images seen, a line per variant (mean and band over seeds)."""
    long = logs.melt(id_vars=['images_seen', 'label', 'batch_size', 'seed'], value_vars=quantities,
                     var_name='quantity', value_name='value').dropna(subset=['value'])
    grid = sns.relplot(data=long, kind='line', x='images_seen', y='value', hue='label', hue_order=hue_order(long),
                       style='batch_size', row='quantity', errorbar=errorbar, facet_kws={'sharey': False},
                       height=2.2, aspect=2.2)
    grid.set_titles('{row_name}')
    return grid.figure


def training_curves(sns, logs, errorbar='sd'):
    losses = [q for q in LOSSES if q in logs.columns and logs[q].notna().any()]
    return quantities_over_training(sns, logs, losses, errorbar)


COST_AXES = {'images_seen': 'generator images seen', 'data_images_seen': 'data images drawn',
             'device_seconds': 'training device-seconds'}


def metric_over_training(sns, curves, skipped):
    """The EMA snapshots' one-step metric against each measure of cost (a column each), every method on one
    axis, a row per metric."""
    if curves.empty:
        fig, ax = _pyplot().subplots(figsize=(5, 2))
        note(ax, 'No metric over training: ' + '; '.join(skipped))
        return fig
    long = curves.melt(id_vars=['label', 'batch_size', 'seed', 'metric', 'value'], value_vars=list(COST_AXES),
                       var_name='cost', value_name='spent').replace({'cost': COST_AXES})
    # a line per run: seeds reach a device-second at different snapshots, so no mean across them
    grid = sns.relplot(data=long, kind='line', x='spent', y='value', hue='label', hue_order=hue_order(curves),
                       style='batch_size', units='seed', estimator=None, row='metric', col='cost', marker='o',
                       facet_kws={'sharey': 'row', 'sharex': False}, height=2.6, aspect=1.3)
    grid.set_titles('{row_name} vs {col_name}', size=9)
    grid.set_axis_labels('', 'one-step metric of the EMA')
    return grid.figure


def aug_p(sns, logs, errorbar='sd'):
    act = logs[logs['method_label'].str.startswith('ACT')]
    if act.empty or 'aug_p' not in act.columns:
        fig, ax = _pyplot().subplots(figsize=(5, 2))
        note(ax, 'No ACT runs on this dataset: nothing is augmented.')
        return fig
    return quantities_over_training(sns, act, ['aug_p', 'r1_ema'], errorbar)


def image_strip(images):
    """(n, C, H, W) in [-1, 1] -> one row of n images as (H, n·W[, C]) in [0, 1]."""
    strip = np.concatenate(list(images), axis=-1).transpose(1, 2, 0)
    strip = (strip + 1) / 2
    return np.clip(strip[..., 0] if strip.shape[-1] == 1 else strip, 0, 1)


def one_step_samples(run_dir, kind):
    """Bundled data: the run's samples.npz; image data (FID path, no stored samples): the few one-step
    images its first feature shard keeps. A scatter keeps up to 1000 points."""
    n = 1000 if kind.sample_grid == 'scatter' else SAMPLES_PER_RUN
    if kind.bundled:
        with np.load(Path(run_dir) / layout.SAMPLES) as f:
            return f['1-step'][:n]
    with np.load(Path(run_dir) / layout.FID_SHARD.format(shard=0)) as f:
        return f['grid_1step'][:n]


def sample_grid(run_dirs, kind):
    """A row of one-step samples per run (images), or a scatter per run (toy 2-D data)."""
    plt = _pyplot()
    runs = [(run_labels(d), d) for d in run_dirs]
    runs.sort(key=lambda r: (label_rank(r[0]['label']), r[0]['batch_size'], r[0]['seed']))
    samples = [one_step_samples(d, kind) for _, d in runs]
    titles = [f"{r['label']}, batch {r['batch_size']}, seed {r['seed']}" for r, _ in runs]
    if kind.sample_grid == 'images':
        fig, axes = plt.subplots(len(runs), 1, figsize=(8, 1.1 * len(runs)), squeeze=False)
        for ax, x, title in zip(axes[:, 0], samples, titles):
            ax.imshow(image_strip(x), cmap='gray', vmin=0, vmax=1, interpolation='nearest')
            ax.set_title(title, fontsize=8, loc='left')
            ax.set_axis_off()
        return fig
    cols = min(4, len(runs))
    rows = -(-len(runs) // cols)
    fig, axes = plt.subplots(rows, cols, figsize=(2.6 * cols, 2.6 * rows), squeeze=False, sharex=True, sharey=True)
    for ax, x, title in zip(axes.flat, samples, titles):
        ax.scatter(x[:, 0], x[:, 1], s=2, alpha=0.5)
        ax.set_title(title, fontsize=8)
    for ax in axes.flat[len(runs):]:
        ax.set_axis_off()
    return fig

#----------------------------------------------------------------------------

def write_plots(summary_path, run_dirs, dataset, kind, out_dir, spread='std'):
    """Every plot of PLOTS for one dataset (of DatasetKind `kind`) from its run directories, as
    out_dir/<plot>.png and .pdf; bands over seeds of the kind `spread` (config report.spread)."""
    import seaborn as sns
    sns.set_theme(style='whitegrid', context='paper')
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    summary = pd.read_csv(summary_path)
    summary = summary[summary['dataset'] == dataset]
    summary = summary.assign(label=[label(m, v) for m, v in zip(summary['method_label'], summary['variant'])])
    primary = summary['primary_metric'].iloc[0]
    logs = training_logs(run_dirs)
    curves, skipped = metric_curves(run_dirs)
    curves = curve_frame(curves, summary)
    bands = band(spread)
    figures = {'metric_vs_batch_size': metric_vs_batch_size(sns, summary, primary, bands),
               'metric_vs_gpu_hours': metric_vs_gpu_hours(sns, summary, primary),
               'training_curves': training_curves(sns, logs, bands),
               'metric_over_training': metric_over_training(sns, curves, skipped),
               'aug_p': aug_p(sns, logs, bands), 'samples': sample_grid(run_dirs, kind)}
    for stem, fig in figures.items():
        fig.suptitle(f'{dataset}: {stem.replace("_", " ")}', y=1.02, fontsize=10)
        save(fig, out_dir, stem)
    return [out_dir / f'{stem}.{ext}' for stem in PLOTS for ext in ('png', 'pdf')]
