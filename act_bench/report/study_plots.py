"""The study's plots of one dataset (act_bench.report.study), each saved as PNG and PDF, with bands of the
study's Student-t interval over seeds: the final metric against batch size (a line per method), against
device-seconds (every run, and each cell's mean with its interval), against inference parameters (the
batch sizes that hold several model sizes) and over training (the EMA snapshots' metric, mean over seeds,
a panel per batch size)."""

from pathlib import Path

from act_bench.report import stats
from act_bench.report.plots import _pyplot, hue_order, note, save

STUDY_PLOTS = ['study_metric_vs_batch_size', 'study_metric_vs_device_seconds', 'study_metric_vs_params',
               'study_metric_over_training']
CELL = ['label', 'model', 'batch_size']


def log_axis(ax, values):
    """A log x axis ticked at `values` (batch sizes)."""
    ax.set_xscale('log')
    ax.set_xticks(values, [str(v) for v in values])
    ax.minorticks_off()


def metric_vs_batch_size(sns, runs, primary, band):
    """A panel per model run at more than one batch size (the others are in metric_vs_params)."""
    batches = runs.groupby('model')['batch_size'].nunique()
    runs = runs[runs['model'].isin(batches[batches > 1].index)] if (batches > 1).any() else runs
    grid = sns.relplot(data=runs, kind='line', x='batch_size', y=primary, hue='label', hue_order=hue_order(runs),
                       col='model', marker='o', errorbar=band, height=3.2, aspect=1.3)
    for ax in grid.axes.flat:
        log_axis(ax, sorted(runs['batch_size'].unique()))
    grid.set_titles('model {col_name}')
    grid.set_axis_labels('batch size (generator images per step)', f'{primary} (lower is better)')
    return grid.figure


def metric_vs_device_seconds(sns, runs, primary, confidence):
    """Every run (faint), and each cell's mean device-seconds and mean metric with its interval."""
    order = hue_order(runs)
    palette = dict(zip(order, sns.color_palette(n_colors=len(order))))
    fig, ax = _pyplot().subplots(figsize=(5, 3.4))
    sns.scatterplot(data=runs, x='device_seconds', y=primary, hue='label', hue_order=order, palette=palette,
                    style='batch_size', alpha=0.35, s=25, ax=ax)
    for (label, _, _), cell in runs.groupby(CELL):
        interval = stats.t_interval(cell[primary], confidence)
        spread = [[interval.mean - interval.lo], [interval.hi - interval.mean]] if interval.defined else None
        ax.errorbar(cell['device_seconds'].mean(), interval.mean, yerr=spread, fmt='o', ms=4, capsize=2,
                    color=palette[label])
    ax.set_xscale('log')
    ax.set(xlabel='device-seconds per run (log)', ylabel=f'{primary} (lower is better)')
    sns.move_legend(ax, 'upper left', bbox_to_anchor=(1, 1), fontsize=8)
    return fig


def metric_vs_params(sns, runs, primary, band):
    """The batch sizes at which the runs hold more than one model size, a panel each."""
    models = runs.groupby('batch_size')['model'].nunique()
    cells = runs[runs['batch_size'].isin(models[models > 1].index)]
    if cells.empty:
        fig, ax = _pyplot().subplots(figsize=(5, 2))
        note(ax, 'One model size at every batch size: no comparison across parameters.')
        return fig
    grid = sns.relplot(data=cells, kind='line', x='params_inference_total', y=primary, hue='label',
                       hue_order=hue_order(cells), col='batch_size', marker='o', errorbar=band, height=3.2,
                       aspect=1.3)
    for ax in grid.axes.flat:
        ax.set_xscale('log')
    grid.set_titles('batch {col_name}')
    grid.set_axis_labels('inference parameters (log)', f'{primary} (lower is better)')
    return grid.figure


def setting_names(curves):
    """'batch 16' (or 'batch 16, model small' when there are several models) per row of `curves`."""
    names = 'batch ' + curves['batch_size'].astype(str)
    return names + ', model ' + curves['model'] if curves['model'].nunique() > 1 else names


def metric_over_training(sns, curves, band, steps_fraction):
    """Mean over seeds of the EMA snapshots' metric per step, a panel per batch size and model that has runs;
    a dotted line at steps_fraction · K."""
    if curves.empty:
        fig, ax = _pyplot().subplots(figsize=(5, 2))
        note(ax, 'No EMA snapshots (train.snapshot_every: null): no metric over training.')
        return fig
    curves = curves.sort_values(['model', 'batch_size']).assign(setting=setting_names)
    grid = sns.relplot(data=curves, kind='line', x='step', y='value', hue='label', hue_order=hue_order(curves),
                       col='setting', col_wrap=min(3, curves['setting'].nunique()), marker='o', errorbar=band,
                       height=2.6, aspect=1.2)
    for ax in grid.axes.flat:
        ax.axvline(steps_fraction * curves['iterations'].max(), ls=':', color='grey')
    grid.set_titles('{col_name}', size=9)
    grid.set_axis_labels('training step', 'one-step metric of the EMA')
    return grid.figure


def write_study_plots(runs, curves, primary, out_dir, confidence, steps_fraction):
    """STUDY_PLOTS of one dataset's `runs` (summary.csv rows with `label`) and `curves` (its primary metric's
    snapshots with `iterations`) under out_dir."""
    import seaborn as sns
    sns.set_theme(style='whitegrid', context='paper')
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    band = stats.errorbar(confidence)
    figures = {'study_metric_vs_batch_size': metric_vs_batch_size(sns, runs, primary, band),
               'study_metric_vs_device_seconds': metric_vs_device_seconds(sns, runs, primary, confidence),
               'study_metric_vs_params': metric_vs_params(sns, runs, primary, band),
               'study_metric_over_training': metric_over_training(sns, curves, band, steps_fraction)}
    dataset = runs['dataset'].iloc[0]
    for stem, fig in figures.items():
        fig.suptitle(f'{dataset}: {stem[len("study_"):].replace("_", " ")} ({confidence:.0%} t-interval over seeds)',
                     y=1.02, fontsize=10)
        save(fig, out_dir, stem)
    return [out_dir / f'{stem}.{ext}' for stem in STUDY_PLOTS for ext in ('png', 'pdf')]
