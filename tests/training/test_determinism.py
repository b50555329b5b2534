"""Same seeds, same numbers: two fresh processes training the same run on the same machine write bitwise
identical weights and logs (ACT on digits with augmentation: the discriminator, R1 and the ACT-Aug
controller included). Across CPU kernels results do move; reports/determinism/README.md measures how far."""

import json
import subprocess
import sys

import pytest
import torch
import yaml

CONFIG = {
    'name': 'determinism', 'threads': 1,
    'datasets': {'digits': {'kind': 'digits', 'resolution': 8}},
    'models': {'tiny': {'unet_channels': [8, 16], 'disc_channels': [8, 16], 'norm_groups': 4}},
    'train': {'iterations': 6, 's1': 10, 'checkpoint_every': 3, 'log_every': 1, 'r1_interval': 2,
              'aug_threshold': 1e-6, 'ada_length': 100},
    'sweep': [{'dataset': ['digits'], 'method': ['act'], 'batch_size': [8], 'model': ['tiny'], 'augment': ['on']}],
}
TIMING = ('wall_seconds', 'peak_memory_mb')


def _cli(*args):
    subprocess.run([sys.executable, '-m', 'act_bench.cli', *map(str, args)], check=True, capture_output=True)


def _log(run_dir):
    records = [json.loads(line) for line in (run_dir / 'train_log.jsonl').read_text().splitlines()]
    return [{k: v for k, v in r.items() if k not in TIMING} for r in records]


# Four fresh processes that import torch (about a minute on 2 cores): heavy, so CI's `pytest -m heavy` runs it.
@pytest.mark.heavy
def test_a_rerun_in_a_fresh_process_is_bitwise_identical(tmp_path):
    config = tmp_path / 'determinism.yaml'
    config.write_text(yaml.safe_dump(CONFIG))
    data = tmp_path / 'digits.npz'
    _cli('prepare-data', '--config', config, '--dataset', 'digits', '--out', data)
    run = ['--config', config, '--dataset', 'digits', '--method', 'act', '--batch-size', 8, '--model', 'tiny',
           '--augment', 'on', '--seed', 0, '--data', data]
    for name in ('first', 'second'):
        _cli('train', *run, '--run-dir', tmp_path / name)
    a, b = (torch.load(tmp_path / name / 'final.pt', weights_only=True) for name in ('first', 'second'))
    for key in ('net', 'target', 'ema'):
        assert a[key].keys() == b[key].keys() and all(torch.equal(a[key][k], b[key][k]) for k in a[key])
    checkpoints = [torch.load(tmp_path / name / 'checkpoints' / 'ckpt-000000006.pt', weights_only=True)
                   for name in ('first', 'second')]
    assert all(torch.equal(x, y) for x, y in zip(checkpoints[0]['loss']['D'].values(),
                                                 checkpoints[1]['loss']['D'].values()))
    first = _log(tmp_path / 'first')
    assert first == _log(tmp_path / 'second')
    assert first[-1]['step'] == 6 and first[-1]['aug_p'] > 0   # the augmentation was on
