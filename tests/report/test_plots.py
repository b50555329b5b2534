"""The plots of one dataset from a tiny finished set of runs: every file of PLOTS as PNG and PDF."""

import copy

import yaml

from act_bench.cli import main
from act_bench.config import expand_runs, load_config
from act_bench.data.bundled import prepare_dataset, save_dataset
from act_bench.report.plots import PLOTS
from act_bench.training.loop import training_loop
from conftest import TINY_CONFIG


def run_options(run):
    return [f'--{key.replace("_", "-")}={value}' for key, value in run.wildcards.items() if key != 'variant_dir']


def finish_runs(tmp_path, config_file, config):
    """Train, sample, evaluate and count every (toy) run of the config, the way the rules do."""
    data = tmp_path / 'toy.npz'
    save_dataset(prepare_dataset(config['datasets']['toy']), data)
    runs = expand_runs(config)
    for run in runs:
        d = tmp_path / run.path
        training_loop(run, config['datasets']['toy'], config['models']['tiny'], data, d)
        common = ['--config', config_file, *run_options(run)]
        assert main(['sample', *common, '--final', str(d / 'final.pt'), '--out', str(d / 'samples.npz')]) == 0
        assert main(['evaluate', *common, '--samples', str(d / 'samples.npz'), '--data', str(data),
                     '--out', str(d / 'metrics.json')]) == 0
        assert main(['count-params', *common, '--out', str(d / 'params.json')]) == 0
        assert main(['metric-curve', *common, '--run-dir', str(d), '--data', str(data),
                     '--out', str(d / 'metric_curve.json')]) == 0
    return [str(tmp_path / run.path) for run in runs]


def test_plots_writes_every_plot(tmp_path):
    raw = copy.deepcopy(TINY_CONFIG)
    raw['sweep'] = [{'dataset': ['toy'], 'method': ['ct', 'act'], 'batch_size': [8], 'model': ['tiny']}]
    raw['train'].update(iterations=4, s1=4, checkpoint_every=2, log_every=2, snapshot_every=2)
    raw['evaluation'] = {'n_samples': 64, 'curve_samples': 32, 'batch_size': 64}
    config_file = tmp_path / 'unit.yaml'
    config_file.write_text(yaml.safe_dump(raw))
    run_dirs = finish_runs(tmp_path, str(config_file), load_config(config_file))
    runs = [arg for d in run_dirs for arg in ('--run', d)]
    summary = tmp_path / 'summary.csv'
    assert main(['aggregate', '--config', str(config_file), *runs, '--out', str(summary)]) == 0
    out = tmp_path / 'reports'
    assert main(['plots', '--config', str(config_file), '--summary', str(summary), '--dataset', 'toy', *runs,
                 '--out-dir', str(out)]) == 0
    for plot in PLOTS:
        assert (out / f'{plot}.png').read_bytes().startswith(b'\x89PNG')
        assert (out / f'{plot}.pdf').read_bytes().startswith(b'%PDF')


def test_saved_plots_are_the_same_bytes_when_redrawn(tmp_path):
    from act_bench.report.plots import _pyplot, save
    plt = _pyplot()
    for out in ('a', 'b'):
        (tmp_path / out).mkdir()
        fig, ax = plt.subplots()
        ax.plot([0, 1], [1, 0])
        save(fig, tmp_path / out, 'line')
    for ext in ('png', 'pdf'):
        assert (tmp_path / 'a' / f'line.{ext}').read_bytes() == (tmp_path / 'b' / f'line.{ext}').read_bytes()


def test_ci95_bands_are_student_t_intervals():
    import pandas as pd
    import pytest
    import seaborn as sns

    from act_bench.report.plots import band, metric_vs_batch_size
    from act_bench.report.stats import t_interval
    summary = pd.DataFrame({'label': ['CT'] * 6, 'batch_size': [8] * 3 + [16] * 3,
                            'w2_1step': [1.0, 2.0, 3.0, 2.0, 2.5, 3.0]})
    fig = metric_vs_batch_size(sns, summary, 'w2_1step', band('ci95'))
    ys = fig.axes[0].collections[0].get_paths()[0].vertices[:, 1]
    assert max(ys) == pytest.approx(t_interval([1.0, 2.0, 3.0]).hi)
    assert min(ys) == pytest.approx(t_interval([1.0, 2.0, 3.0]).lo)
    assert band('std') == 'sd'
