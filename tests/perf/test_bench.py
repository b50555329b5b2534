"""`act-bench bench` and `act-bench estimate` on the tiny config: what they report and how it is derived."""

import copy
import json

import pytest
import torch
import yaml

from act_bench.perf import bench as bench_module
from act_bench.perf.bench import bench, format_markdown, parse_variant, peak_tflops, speedup_ratios
from act_bench.runtime.errors import ConfigError
from act_bench.cli import main
from act_bench.perf.estimate import estimate
from conftest import TINY_CONFIG

ESTIMATE_RUN_KEYS = {'variant_dir', 'dataset', 'method', 'batch_size', 'model', 'augment', 'seed', 'step_seconds',
                     'projected_train_hours', 'projected_eval_hours', 'projected_wall_hours',
                     'projected_gpu_hours', 'n_devices'}


def test_bench_reports_every_variant_with_r1_weighting(tiny_config):
    result = bench(tiny_config, ['*/digits/act/*/aug-off/*'], steps=1, repeats=2,
                   variants={'none': (), 'default': ('foreach', 'sdpa', 'prefetch')})
    assert result['device'] == 'cpu' and len(result['runs']) == 1
    run = result['runs'][0]
    assert run['method'] == 'act' and run['r1_interval'] == 2 and run['flops_per_iteration'] > 0
    for label in ('none', 'default'):
        v = run['variants'][label]
        ms = v['ms_per_iteration']
        assert ms['min'] <= ms['median'] <= ms['max']
        # r1_interval 2: an iteration is the mean of one R1 and one plain iteration (per repeat)
        assert set(v) >= {'ms_r1_iteration', 'ms_plain_iteration', 'images_per_second',
                          'sampling_images_per_second', 'peak_memory_mb', 'achieved_tflops'}
        assert 'mfu' not in v   # CPU: no peak table
        assert v['images_per_second'] == pytest.approx(8 / (ms['median'] / 1e3))
    assert set(run['ratios']) == {'default_vs_none'} and run['ratios']['default_vs_none']['median'] > 0
    json.dumps(result)
    report = format_markdown(result)
    assert '| default |' in report and '| default_vs_none |' in report


def test_peak_table_picks_the_dtype_peak(monkeypatch):
    cuda = torch.device('cuda')
    monkeypatch.setattr(bench_module, 'device_name', lambda device: 'NVIDIA H200')
    assert peak_tflops(cuda, 'bf16', tf32=False) == 989.0
    assert peak_tflops(cuda, 'fp32', tf32=True) == 494.5
    monkeypatch.setattr(bench_module, 'device_name', lambda device: 'NVIDIA H100 PCIe')
    assert peak_tflops(cuda, 'fp32', tf32=False) == 51.2
    monkeypatch.setattr(bench_module, 'device_name', lambda device: 'Some Other GPU')
    assert peak_tflops(cuda, 'bf16', tf32=False) is None
    assert peak_tflops(torch.device('cpu'), 'bf16', tf32=False) is None


def test_estimate_projects_every_run(tiny_config):
    result, note = estimate(tiny_config, steps=1, warmup=0, selectors=['*/toy/*'])
    assert 'extrapolated' in note
    runs = result['runs']
    assert set(result) == {'config', 'device', 'runs'} and result['config'] == 'unit'
    assert {(r['method'], r['augment']) for r in runs} == {('ct', 'off'), ('act', 'off'), ('act', 'on')}
    n = tiny_config['evaluation']['n_samples']
    for r in runs:
        assert set(r) == ESTIMATE_RUN_KEYS
        assert r['projected_train_hours'] == pytest.approx(20 * r['step_seconds'] / 3600)
        assert r['projected_eval_hours'] > 0 and n > 0
        assert r['projected_wall_hours'] == pytest.approx(r['projected_train_hours'] + r['projected_eval_hours'])
        assert r['projected_gpu_hours'] == pytest.approx(r['projected_wall_hours'] * r['n_devices'])
    # act with and without augmentation share one timed segment
    act = [r for r in runs if r['method'] == 'act']
    assert act[0]['step_seconds'] == act[1]['step_seconds']


def test_estimate_cli_writes_json_and_prints_a_table(tmp_path, capsys):
    config = copy.deepcopy(TINY_CONFIG)
    config['threads'] = 1
    path = tmp_path / 'tiny.yaml'
    path.write_text(yaml.safe_dump(config))
    out = tmp_path / 'estimate.json'
    assert main(['estimate', str(path), '--runs', '*/toy/ct/*', '--steps', '1', '--out', str(out)]) == 0
    table = capsys.readouterr().out
    assert 'GPU-h' in table and 'toy/ct/b8/tiny/aug-off/s0' in table and 'extrapolated' in table
    written = json.loads(out.read_text())
    assert [set(r) for r in written['runs']] == [ESTIMATE_RUN_KEYS]
    assert main(['bench', str(path), '--runs', 'no-such-run*', '--distance', 'l2']) == 0
    assert json.loads(capsys.readouterr().out)['runs'] == []


def test_estimate_rule_dry_run(tmp_path):
    from test_workflow import snakemake
    result = snakemake('-n', '-p', '--config', 'config=smoke', '--directory', str(tmp_path),
                       'results/smoke/estimate.json')
    assert result.returncode == 0, result.stdout + result.stderr
    assert 'act-bench estimate' in result.stdout and '--out results/smoke/estimate.json' in result.stdout


def test_variant_names():
    assert parse_variant('none') == ()
    assert parse_variant('default') == ('foreach', 'lean_radam', 'flat', 'sdpa', 'prefetch')
    assert parse_variant('default-prefetch+channels_last') == ('foreach', 'lean_radam', 'flat', 'sdpa', 'channels_last')
    assert parse_variant('foreach+tf32') == ('foreach', 'tf32')
    with pytest.raises(ConfigError, match="unknown speed-up 'turbo' in variant 'default\\+turbo'"):
        parse_variant('default+turbo')


@pytest.mark.heavy
def test_bench_and_estimate_on_the_cifar10_paper_networks():
    """Paper-size: both CIFAR10 recipes at batch 2 (l2 distance: the LPIPS weights are downloads)."""
    from act_bench.config import config_path, load_config
    config = load_config(config_path('paper/cifar10'))
    runs = ['*/ct/batch512/*', '*/act/*/aug-on/*']
    result = bench(config, runs, steps=1, repeats=1, batch=2, variants={'none': (), 'default+channels_last':
                   ('foreach', 'sdpa', 'prefetch', 'channels_last')}, distance='l2')
    assert [(r['method'], r['model']) for r in result['runs']] == [('ct', 'ct-cifar10'), ('act', 'act-cifar10')]
    assert all(r['flops_per_iteration'] > 1e9 for r in result['runs'])
    estimated, _ = estimate(config, steps=1, warmup=0, sample_batch=2, selectors=runs, batch=2, distance='l2')
    act = next(r for r in estimated['runs'] if r['method'] == 'act')
    assert act['projected_train_hours'] == pytest.approx(300_000 * act['step_seconds'] / 3600)


def test_speedup_ratios_need_their_base_variant():
    """`default+x` alone has no `default` to compare with: no single-change ratio, and no KeyError."""
    times = {'none': {'iteration': [2.0]}, 'default': {'iteration': [1.6]}, 'default+tf32': {'iteration': [0.8]}}
    assert speedup_ratios({'none': (), 'default+tf32': ()}, times) == {}
    ratios = speedup_ratios({'none': (), 'default': (), 'default+tf32': ()}, times)
    assert ratios['default_vs_none']['median'] == pytest.approx(1.25) and ratios['tf32']['median'] == pytest.approx(2.0)
