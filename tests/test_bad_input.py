"""Bad input through the `act-bench` command line: each case stops with one line naming the problem
(no traceback), and what was already computed stays on disk. Config-schema details are in
test_config.py, dataset formats in test_datasets.py, weights files in test_fid.py and
test_lpips_distance.py; here the same errors are checked where the user meets them."""

import errno
import json
import re

import numpy as np
import pytest
import torch
import yaml

from act_bench.runtime import checkpoint as ckpt
from act_bench.training import loss, speedups
from act_bench.cli import main
from act_bench.data.bundled import prepare_dataset, save_dataset

CONFIG = {
    'name': 'bad',
    'datasets': {'toy': {'kind': 'toy2d', 'distribution': 'eight_gaussians', 'n_train': 128, 'n_eval': 32}},
    'models': {'tiny': {'mlp_hidden': 16, 'mlp_layers': 2}},
    'train': {'iterations': 6, 's1': 10, 'checkpoint_every': 2, 'log_every': 1, 'r1_interval': 2},
    'sweep': [{'dataset': ['toy'], 'method': ['act'], 'batch_size': [8], 'model': ['tiny'], 'seed': [0]}],
}


def _write_config(tmp_path, change=None):
    cfg = json.loads(json.dumps(CONFIG))
    if change:
        change(cfg)
    path = tmp_path / 'bad.yaml'
    path.write_text(yaml.safe_dump(cfg))
    return path


def _train(config, data, run_dir, batch=8):
    return main(['train', '--config', str(config), '--dataset', 'toy', '--method', 'act', '--batch-size', str(batch),
                 '--model', 'tiny', '--augment', 'off', '--seed', '0', '--data', str(data), '--run-dir', str(run_dir)])


def _one_error_line(capsys):
    lines = capsys.readouterr().err.replace('\r', '\n').splitlines()
    err = [line for line in lines if line.strip() and not re.search(r'\d+/\d+ \[', line)]   # no progress bar
    assert len(err) == 1 and 'Traceback' not in err[0], err
    assert err[0].startswith('act-bench train: error: ')
    return err[0]


@pytest.fixture
def data(tmp_path):
    path = tmp_path / 'toy.npz'
    save_dataset(prepare_dataset(CONFIG['datasets']['toy']), path)
    return path


def _set(path, value):
    def change(cfg):
        node = cfg
        for key in path[:-1]:
            node = node[key]
        node[path[-1]] = value
    return change


@pytest.mark.parametrize('change,expected', [
    (_set(['train', 'learning_rate'], 0.1), "unknown config key 'train.learning_rate'"),
    (_set(['train', 'lr'], 'fast'), "config key 'train.lr': 'fast' is not of type 'number'"),
    (_set(['sweep', 0, 'batch_size'], [-8]), "config key 'sweep[0].batch_size[0]': -8 is less than the minimum of 1"),
    (_set(['sweep', 0, 'batch_size'], [0]), "config key 'sweep[0].batch_size[0]': 0 is less than the minimum of 1"),
    (_set(['resources'], {'train': {'gpus': 3}}), 'sweep[0].batch_size 8 is not divisible by 6: with '
                                                  'resources.train.gpus 3 each GPU trains an equal share of the '
                                                  'batch (for act, of each half)'),
], ids=['unknown-key', 'wrong-type', 'negative-batch', 'zero-batch', 'batch-not-divisible-by-gpus'])
def test_config_errors_are_one_line(tmp_path, data, capsys, change, expected):
    assert _train(_write_config(tmp_path, change), data, tmp_path / 'run') == 1
    assert expected in _one_error_line(capsys)
    assert not (tmp_path / 'run').exists()


def test_missing_and_malformed_prepared_data(tmp_path, capsys):
    config = _write_config(tmp_path)
    assert _train(config, tmp_path / 'nowhere.npz', tmp_path / 'run') == 1
    assert 'nowhere.npz does not exist; write it with "act-bench prepare-data"' in _one_error_line(capsys)
    broken = tmp_path / 'broken.npz'
    broken.write_bytes(b'PK\x03\x04 not really a zip')
    assert _train(config, broken, tmp_path / 'run') == 1
    assert 'broken.npz is not a readable .npz of prepared data' in _one_error_line(capsys)
    np.savez(tmp_path / 'other.npz', images=np.zeros(3))
    assert _train(config, tmp_path / 'other.npz', tmp_path / 'run') == 1
    assert "lacks the arrays ['eval', 'train'] of prepared data" in _one_error_line(capsys)


def test_missing_paper_dataset_names_the_path(tmp_path, capsys):
    config = _write_config(tmp_path, _set(['datasets', 'toy'], {'kind': 'cifar10', 'data_root': str(tmp_path / 'c10')}))
    assert main(['train', '--config', str(config), '--dataset', 'toy', '--method', 'act', '--batch-size', '8',
                 '--model', 'tiny', '--augment', 'off', '--seed', '0', '--run-dir', str(tmp_path / 'run')]) == 1
    assert str(tmp_path / 'c10') in _one_error_line(capsys)


def test_missing_lpips_weights_name_the_files(tmp_path, capsys):
    def change(cfg):
        cfg['train'].update(distance='lpips', lpips_weights=str(tmp_path / 'w'))
        cfg['datasets']['toy'] = {'kind': 'digits', 'resolution': 16}
    config = _write_config(tmp_path, change)
    images = {'train': np.zeros((16, 1, 16, 16), np.float32), 'eval': np.zeros((4, 1, 16, 16), np.float32)}
    np.savez(tmp_path / 'digits.npz', **images)
    assert _train(config, tmp_path / 'digits.npz', tmp_path / 'run') == 1
    line = _one_error_line(capsys)
    assert 'vgg16-397923af.pth' in line and 'lpips_weights.pt' in line and str(tmp_path / 'w') in line


def test_unreadable_checkpoints_stop_with_one_line(tmp_path, data, capsys):
    run = tmp_path / 'run'
    (run / 'checkpoints').mkdir(parents=True)
    (run / 'checkpoints' / 'ckpt-000000004.pt').write_bytes(b'garbage')
    assert _train(_write_config(tmp_path), data, run) == 1
    line = _one_error_line(capsys)
    assert 'no checkpoint in' in line and 'ckpt-000000004.pt: ' in line and 'move that directory away' in line
    assert (run / 'checkpoints' / 'ckpt-000000004.pt').read_bytes() == b'garbage'   # left for the user to inspect


def _checkpoint_steps(run):
    return [int(f.stem.split('-')[1]) for f in ckpt.checkpoint_files(run / 'checkpoints')]


def _finite(path):
    state = torch.load(path, weights_only=True)
    return all(torch.isfinite(v).all() for v in state['net'].values())


def test_nan_loss_stops_and_keeps_the_last_good_checkpoint(tmp_path, data, capsys, monkeypatch):
    calls = []
    real_call = loss.ACTLoss.__call__

    def diverging(self, *args, **kwargs):
        calls.append(1)
        out = real_call(self, *args, **kwargs)
        return out * float('nan') if len(calls) == 5 else out   # step 5 (1-based)
    monkeypatch.setattr(loss.ACTLoss, '__call__', diverging)
    run = tmp_path / 'run'
    assert _train(_write_config(tmp_path), data, run) == 1
    line = _one_error_line(capsys)
    assert 'the generator loss became nan at step 4; training stopped and the last good checkpoint' in line
    assert line.endswith('ckpt-000000004.pt is kept')
    assert _checkpoint_steps(run) == [2, 4] and _finite(run / 'checkpoints' / 'ckpt-000000004.pt')
    assert not (run / 'final.pt').exists()


def test_non_finite_weights_are_never_checkpointed(tmp_path, data, capsys, monkeypatch):
    calls = []

    def poisoning(real_update):
        def poisoned(ema, net, mu):
            calls.append(1)
            real_update(ema, net, mu)
            # each step updates the target, then the evaluation EMA: call 7 is step 4's target update, so the
            # weights of step 4, a checkpoint step, go bad after its loss was checked
            if len(calls) == 7:
                next(ema.parameters()).data.fill_(float('inf'))
        return poisoned
    # the EMA update is the plain one, with 'foreach' the multi-tensor one, with 'flat' (a default) FlatEMA
    monkeypatch.setattr(speedups, 'update_ema', poisoning(speedups.update_ema))
    monkeypatch.setattr(speedups, 'update_ema_foreach', poisoning(speedups.update_ema_foreach))
    flat_ema = speedups.FlatEMA
    monkeypatch.setattr(speedups, 'FlatEMA', lambda flats, modules: poisoning(flat_ema(flats, modules)))
    run = tmp_path / 'run'
    assert _train(_write_config(tmp_path), data, run) == 1
    line = _one_error_line(capsys)
    assert 'the target network weights became non-finite at step 4' in line
    assert line.endswith('ckpt-000000002.pt is kept')
    assert _checkpoint_steps(run) == [2]


def test_disk_full_keeps_the_previous_checkpoint_and_rerun_resumes(tmp_path, data, capsys, monkeypatch):
    real_save = torch.save

    def full_disk(obj, f, *args, **kwargs):
        if getattr(f, 'name', '').endswith('ckpt-000000004.pt.tmp'):
            f.write(b'half a checkpoint')
            raise OSError(errno.ENOSPC, 'No space left on device')
        return real_save(obj, f, *args, **kwargs)
    monkeypatch.setattr(ckpt.torch, 'save', full_disk)
    config, run = _write_config(tmp_path), tmp_path / 'run'
    assert _train(config, data, run) == 1
    line = _one_error_line(capsys)
    assert line == (f'act-bench train: error: the disk is full: checkpoint ckpt-000000004.pt could not be written; '
                    f'{run / "checkpoints" / "ckpt-000000002.pt"} is kept and a rerun resumes from it once space '
                    'is freed')
    assert sorted(f.name for f in (run / 'checkpoints').iterdir()) == ['ckpt-000000002.pt']   # no .tmp left
    monkeypatch.setattr(ckpt.torch, 'save', real_save)   # space freed
    assert _train(config, data, run) == 0
    assert json.loads((run / 'train_summary.json').read_text())['resumed_from_step'] == 2
