"""The Snakemake DAG: dry runs and lint of the bundled configs, and the smoke config end to end."""

import json
import math
import subprocess
import sys

import pandas as pd
import pytest

from act_bench.config import expand_runs, load_config
from conftest import REPO


def snakemake(*args, cwd=REPO):
    cmd = [sys.executable, '-m', 'snakemake', '--snakefile', str(REPO / 'Snakefile'), *args]
    return subprocess.run(cmd, cwd=cwd, capture_output=True, text=True)


@pytest.mark.parametrize('name', ['default', 'smoke', 'ablation', 'paper/cifar10', 'paper/imagenet64', 'paper/lsun_cat256'])
def test_dry_run(tmp_path, name):
    result = snakemake('-n', '--config', f'config={name}', '--directory', str(tmp_path))
    assert result.returncode == 0, result.stderr
    config = load_config(REPO / 'workflow' / 'configs' / f'{name}.yaml')
    runs = expand_runs(config)
    counts = {k: int(v) for k, v in (line.split()[:2] for line in result.stdout.splitlines()
                                     if len(line.split()) == 2 and line.split()[1].isdigit())}
    image = [r for r in runs if config['datasets'][r.dataset]['kind'] not in ('toy2d', 'digits')]
    bundled = len(runs) - len(image)
    assert counts['train'] == len(runs)
    assert counts.get('study', 0) == ('study' in config)   # only configs with a study: block
    assert counts.get('postprocess', 0) == bundled   # sampling, metrics, parameter counts, metric curve
    assert counts.get('count_params', 0) == counts.get('metric_curve', 0) == len(image)
    # image datasets: Inception FID / IS, the samples split across evaluation.fid.shards jobs, and the
    # reference statistics computed (or imported) once per dataset, whatever the number of runs
    assert counts.get('sample_features', 0) == len(image) * config['evaluation']['fid']['shards']
    assert counts.get('evaluate_fid', 0) == len(image)
    assert counts.get('fid_reference', 0) == counts.get('reference_fid', 0) == len({r.dataset for r in image})
    if image:
        mode = config['evaluation']['fid']['mode']
        assert f'results/{config["name"]}/reference/{image[0].dataset}_inception_{mode}.npz' in result.stdout


def test_the_study_rule_runs_only_with_a_study_block(tmp_path):
    smoke = (REPO / 'workflow' / 'configs' / 'smoke.yaml').read_text()
    (tmp_path / 'study.yaml').write_text(smoke + '\nstudy: {}\nreport: {spread: ci95}\n')
    result = snakemake('-n', '-p', '--configfile', str(tmp_path / 'study.yaml'), '--directory', str(tmp_path))
    assert result.returncode == 0, result.stderr
    assert 'act-bench study --config' in result.stdout and '--spread ci95 --out-dir' in result.stdout
    assert 'reports/smoke/digits/study_metric_over_training.pdf' in result.stdout


def test_lint_is_clean(tmp_path):
    result = snakemake('--lint', '--directory', str(tmp_path))
    assert result.returncode == 0, result.stdout + result.stderr


def test_bad_config_stops_with_one_sentence(tmp_path):
    bad = tmp_path / 'bad.yaml'
    bad.write_text((REPO / 'workflow' / 'configs' / 'smoke.yaml').read_text().replace('threads: 1', 'thread: 1'))
    result = snakemake('-n', '--config', f'config={bad}', '--directory', str(tmp_path))
    assert result.returncode != 0
    assert "unknown config key 'thread'" in result.stdout + result.stderr


# About 2¾ minutes on 2 idle cores: heavy (CI: `pytest -m heavy`, and .ci/run runs the smoke config itself).
@pytest.mark.slow
@pytest.mark.heavy
def test_smoke_dag_end_to_end(tmp_path):
    result = snakemake('--cores', '2', '--config', 'config=smoke', '--directory', str(tmp_path),
                       '--show-failed-logs')
    assert result.returncode == 0, result.stdout[-5000:] + result.stderr[-5000:]
    config = load_config(REPO / 'workflow' / 'configs' / 'smoke.yaml')
    expected = {(r.dataset, r.method, r.batch_size, r.augment, r.seed) for r in expand_runs(config)}
    summary = pd.read_csv(tmp_path / 'results' / 'smoke' / 'summary.csv')
    got = set(summary[['dataset', 'method', 'batch_size', 'augment', 'seed']].itertuples(index=False, name=None))
    assert got == expected and len(summary) == len(expected)
    for metric in ('w2_1step', 'sliced_w2_1step', 'fd_digits_1step', 'fd_digits_2step'):
        rows = summary[metric].dropna()
        assert len(rows) > 0 and all(math.isfinite(v) and v >= 0 for v in rows)
    assert (summary['params_discriminator'][summary['method'] == 'act'] > 0).all()
    assert (summary['params_discriminator'][summary['method'] == 'ct'] == 0).all()
    assert (summary['device_hours'] > 0).all()
    assert set(summary['r1_gamma']) == {config['train']['r1_gamma']} and summary['paper'].isna().all()
    reports = tmp_path / 'reports' / 'smoke'
    table = (reports / 'summary.md').read_text()
    for label in ('CT', 'ACT', 'ACT-Aug'):
        assert f'\n| {label} | tiny | 8 | 20 |' in table
    assert r'\begin{tabular}' in (reports / 'summary.tex').read_text()
    ablations = (reports / 'ablations.md').read_text()
    assert '| method | batch_size=8 | batch_size=16 |' in ablations and 'augment=on' in ablations
    for dataset in ('toy2d-8gaussians', 'digits'):
        for plot in ('metric_vs_batch_size', 'metric_vs_gpu_hours', 'training_curves', 'metric_over_training',
                     'aug_p', 'samples'):
            assert (reports / dataset / f'{plot}.png').stat().st_size > 5_000
            assert (reports / dataset / f'{plot}.pdf').read_bytes().startswith(b'%PDF')
    run = next(r for r in expand_runs(config) if r.dataset == 'digits' and r.augment == 'on')
    curve = json.loads((tmp_path / run.path / 'metric_curve.json').read_text())
    assert curve['skipped'] is None and [r['step'] for r in curve['records']] == [10, 20]
    assert all(r['metric'] == 'fd_digits' and r['value'] > 0 for r in curve['records'])
    result = snakemake('--config', 'config=smoke', '--directory', str(tmp_path), '--report', 'report.html')
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    html = (tmp_path / 'report.html').read_text(errors='replace')
    assert 'metric_vs_gpu_hours.png' in html and 'ablations.md' in html


def test_paper_dry_run_converts_imagenet_once(tmp_path):
    result = snakemake('-n', '--config', 'config=paper/imagenet64', '--directory', str(tmp_path))
    assert result.returncode == 0, result.stderr
    assert 'convert_imagenet64        1' in result.stdout
