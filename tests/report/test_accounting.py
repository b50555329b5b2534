"""GPU-hours: the sacct parser on canned `sacct -P` output, the measured columns, job ids over attempts."""

import json
import math
import subprocess

import pytest

from act_bench.report.accounting import gpu_hours, gres_gpus, parse_sacct, sacct_gpu_hours, slurm_job_ids

# `sacct -j 101,102,103,104 -X -D -P -n --format=JobIDRaw,State,ElapsedRaw,AllocTRES,ReqTRES`: 101 was requeued
# (two rows, -D), 102 timed out, 103 ran on a site that does not account GPUs, 104 asked for a typed GPU only
CANNED = """\
101|PREEMPTED|3600|billing=16,cpu=16,gres/gpu:a100=2,gres/gpu=2,mem=128G,node=1|billing=16,cpu=16,gres/gpu=2,mem=128G,node=1
101|COMPLETED|1800|billing=16,cpu=16,gres/gpu:a100=2,gres/gpu=2,mem=128G,node=1|billing=16,cpu=16,gres/gpu=2,mem=128G,node=1
102|TIMEOUT|7200|cpu=8,gres/gpu=1,mem=64G,node=1|cpu=8,gres/gpu=1,mem=64G,node=1
103|COMPLETED|900|cpu=1,mem=100M,node=1,billing=1|cpu=1,mem=100M,node=1,billing=1
104|COMPLETED|360|cpu=4,mem=8G,node=1|cpu=4,gres/gpu=1,mem=8G,node=1
999|COMPLETED|100000|cpu=8,gres/gpu=8,mem=64G,node=1|cpu=8,gres/gpu=8
"""


def test_gres_gpus_takes_the_untyped_entry():
    assert gres_gpus('billing=16,cpu=16,gres/gpu:a100=2,gres/gpu=2,mem=128G,node=1') == 2
    assert gres_gpus('cpu=1,gres/gpu:a100=1,mem=1G') is None
    assert gres_gpus('') is None and gres_gpus(None) is None


def test_parse_sacct_canned_output():
    rows = parse_sacct('sacct: warning: something\nJobIDRaw|State|ElapsedRaw|AllocTRES|ReqTRES\n' + CANNED)
    assert [(r['job_id'], r['elapsed_seconds'], r['gpus']) for r in rows] == [
        ('101', 3600, 2), ('101', 1800, 2), ('102', 7200, 1), ('103', 900, 0), ('104', 360, 1), ('999', 100000, 8)]
    assert rows[0]['state'] == 'PREEMPTED'


def test_sacct_gpu_hours_over_every_attempt():
    calls = []

    def fake(cmd, **kwargs):
        calls.append(cmd)
        return subprocess.CompletedProcess(cmd, 0, stdout=CANNED, stderr='')
    hours = sacct_gpu_hours(['101', '102', '103', '104', '101'], run=fake)
    # 999 is not ours; requeued, preempted and timed-out attempts all count
    assert hours == pytest.approx((3600 * 2 + 1800 * 2 + 7200 + 0 + 360) / 3600)
    assert calls[0][:3] == ['sacct', '-j', '101,102,103,104'] and '-D' in calls[0] and '-P' in calls[0]


@pytest.mark.parametrize('behaviour', ['missing', 'fails', 'disabled', 'timeout'])
def test_sacct_gpu_hours_never_fails(behaviour):
    def fake(cmd, **kwargs):
        if behaviour == 'missing':
            raise FileNotFoundError('sacct')
        if behaviour == 'timeout':
            raise subprocess.TimeoutExpired(cmd, 60)
        if behaviour == 'fails':
            return subprocess.CompletedProcess(cmd, 1, stdout='', stderr='sacct: error: slurmdbd down')
        return subprocess.CompletedProcess(cmd, 0, stdout='Slurm accounting storage is disabled\n', stderr='')
    assert math.isnan(sacct_gpu_hours(['7'], run=fake))
    assert math.isnan(sacct_gpu_hours([], run=fake))


SUMMARY = {'train_seconds': 7000.0, 'lost_seconds': 200.0, 'checkpoint_seconds': 36.0, 'device': 'cuda',
           'device_name': 'NVIDIA A100-SXM4-80GB', 'n_devices': 2, 'slurm_job_id': '12', 'slurm_job_ids': ['11', '12']}
JOBS = [{'step': 'sample_features', 'seconds': 1800.0, 'device': 'cuda', 'n_devices': 1, 'slurm_job_id': '20'},
        {'step': 'evaluate_fid', 'seconds': 36.0, 'device': 'cpu', 'n_devices': 1, 'slurm_job_id': '21'}]


def test_gpu_hours_columns():
    cols = gpu_hours(SUMMARY, JOBS)
    assert cols['gpu_hours_train'] == pytest.approx(7200 * 2 / 3600)
    assert cols['gpu_hours_checkpoint'] == pytest.approx(36 * 2 / 3600)
    assert cols['gpu_hours_eval'] == pytest.approx(1800 / 3600)  # the CPU merge job is no GPU time
    assert cols['gpu_hours'] == pytest.approx(cols['gpu_hours_train'] + cols['gpu_hours_checkpoint']
                                              + cols['gpu_hours_eval'])
    assert cols['eval_seconds'] == 1836.0 and cols['device_name'] == 'NVIDIA A100-SXM4-80GB'
    cpu = gpu_hours({**SUMMARY, 'device': 'cpu', 'device_name': 'cpu'}, JOBS[1:])
    assert cpu['gpu_hours'] == 0.0
    assert cpu['device_hours_total'] == pytest.approx(((7000 + 200 + 36) * 2 + 36) / 3600)   # CPU time, any device
    assert slurm_job_ids(SUMMARY, JOBS) == ['11', '12', '20', '21']
    assert slurm_job_ids({'slurm_job_id': '5'}, []) == ['5']  # summaries from before slurm_job_ids


def test_training_records_every_attempts_job_id(tmp_path, make_run, monkeypatch):
    from act_bench.data.bundled import prepare_dataset, save_dataset
    from act_bench.training.loop import training_loop
    from conftest import TINY_CONFIG
    spec = TINY_CONFIG['datasets']['toy']
    save_dataset(prepare_dataset(spec), tmp_path / 'toy.npz')
    run = make_run(dataset='toy', method='ct', iterations=4, checkpoint_every=2)
    for job_id in ('111', '222'):   # the second attempt finds the finished checkpoint and rewrites the outputs
        monkeypatch.setenv('SLURM_JOB_ID', job_id)
        training_loop(run, spec, TINY_CONFIG['models']['tiny'], tmp_path / 'toy.npz', tmp_path / 'run')
    summary = json.loads((tmp_path / 'run' / 'train_summary.json').read_text())
    assert summary['slurm_job_ids'] == ['111', '222'] and summary['attempts'] == 2


def test_aggregate_has_the_gpu_hours_columns(tmp_path, tiny_config):
    """summary.csv columns from canned run files; sacct is asked for exactly the runs' job ids."""
    from act_bench.config import expand_runs
    from act_bench.report.aggregate import aggregate
    asked = []

    def fake_sacct(ids):
        asked.append(ids)
        return 1.5 if ids else math.nan
    for i, run in enumerate(expand_runs(tiny_config)):
        d = tmp_path / run.path
        d.mkdir(parents=True)
        ids = ['11', '12'] if i == 0 else []
        (d / 'train_summary.json').write_text(json.dumps({
            **SUMMARY, 'slurm_job_ids': ids, 'slurm_job_id': (ids or [None])[-1], 'iterations': 20,
            'images_seen': 160, 'wall_seconds': 7236.0, 'device_hours': 4.0, 'attempts': 2, 'final_loss': 0.1}))
        (d / 'params.json').write_text(json.dumps({'generator': 10, 'discriminator': 0}))
        (d / 'metrics.json').write_text(json.dumps({'records': [
            {'metric': 'fid', 'sampler': '1-step', 'value': 3.5}, {'metric': 'is', 'sampler': '1-step', 'value': 9.1}],
            'jobs': [{**JOBS[0], 'slurm_job_id': None}] if i else JOBS}))
    summary = aggregate(tiny_config, [(tmp_path / run.path, run) for run in expand_runs(tiny_config)], sacct=fake_sacct)
    assert summary['primary_metric'].iloc[0] == 'fid_1step' and summary['is_1step'].iloc[0] == 9.1
    first, other = summary.iloc[0], summary.iloc[1]
    assert first['slurm_job_ids'] == '11 12 20 21' and first['sacct_gpu_hours'] == 1.5
    assert math.isnan(other['sacct_gpu_hours']) and other['slurm_job_ids'] == ''
    assert first['gpu_hours'] == pytest.approx(gpu_hours(SUMMARY, JOBS)['gpu_hours'])
    for col in ('gpu_hours_train', 'gpu_hours_eval', 'gpu_hours_checkpoint', 'device_name', 'device_hours'):
        assert col in summary.columns
    assert asked[0] == ['11', '12', '20', '21']
