import json

import numpy as np
import pytest
import torch

from act_bench.runtime import checkpoint as ckpt
from act_bench.data.bundled import prepare_dataset, save_dataset
from act_bench.training.loop import Training, training_loop

MODEL = {'mlp_hidden': 16, 'mlp_layers': 2, 'unet_channels': [8, 16], 'disc_channels': [8, 16],
         'unet_layers_per_block': 1, 'disc_layers_per_block': 1, 'norm_groups': 4}


def _state_equal(a, b):
    return all(torch.equal(x, y) for x, y in zip(a.state_dict().values(), b.state_dict().values()))


@pytest.mark.parametrize('dataset,kind,method,augment', [('toy', 'toy2d', 'act', 'on'), ('toy', 'toy2d', 'ct', 'off'),
                                                          ('digits', 'digits', 'act', 'on')])
def test_checkpoint_round_trip_reproduces_the_next_step(tmp_path, make_run, dataset, kind, method, augment):
    run = make_run(dataset=dataset, method=method, augment=augment, aug_threshold=1e-6, r1_interval=1)
    shape = (2,) if kind == 'toy2d' else (1, 16, 16)
    data = torch.randn(64, *shape).clamp(-1, 1)
    a = Training(run, {'kind': kind}, MODEL, data, torch.device('cpu'))
    for _ in range(3):
        a.training_step()
    ckpt.save_rotating(tmp_path, a)
    stats_a = a.training_step()

    b = Training(run, {'kind': kind}, MODEL, data, torch.device('cpu'))
    assert ckpt.load_latest(tmp_path, b) == 3
    stats_b = b.training_step()
    assert stats_a == stats_b
    assert _state_equal(a.net, b.net) and _state_equal(a.target, b.target) and _state_equal(a.ema, b.ema)
    if method == 'act':
        assert _state_equal(a.loss.D, b.loss.D)
        assert a.loss.controller.p == b.loss.controller.p > 0


def test_rotation_keeps_two_and_corrupt_newest_falls_back(tmp_path, make_run, capsys):
    run = make_run(dataset='toy', method='ct')
    tr = Training(run, {'kind': 'toy2d'}, MODEL, torch.randn(32, 2), torch.device('cpu'))
    for _ in range(3):
        tr.training_step()
        ckpt.save_rotating(tmp_path, tr)
    files = ckpt.checkpoint_files(tmp_path)
    assert [f.name for f in files] == ['ckpt-000000002.pt', 'ckpt-000000003.pt']
    files[-1].write_bytes(b'not a checkpoint')
    fresh = Training(run, {'kind': 'toy2d'}, MODEL, torch.randn(32, 2), torch.device('cpu'))
    assert ckpt.load_latest(tmp_path, fresh) == 2
    assert _state_equal(fresh.net, tr.net) is False  # it holds step 2, not step 3
    assert 'ckpt-000000003.pt cannot be loaded' in capsys.readouterr().err


def test_training_loop_resumes_after_a_crash_and_matches_an_uninterrupted_run(tmp_path, make_run, tiny_config):
    run = make_run(dataset='toy', method='act', augment='on', iterations=20, checkpoint_every=5, log_every=5,
                   aug_threshold=1e-6)
    data_path = tmp_path / 'toy.npz'
    save_dataset(prepare_dataset(tiny_config['datasets']['toy']), data_path)
    spec, model = tiny_config['datasets']['toy'], tiny_config['models']['tiny']

    full = training_loop(run, spec, model, data_path, tmp_path / 'full')
    crashed = tmp_path / 'crashed'
    training_loop(run, spec, model, data_path, crashed)
    # simulate a crash at step 12: the step-15 and step-20 checkpoints and the outputs never got written
    for f in ckpt.checkpoint_files(crashed / 'checkpoints'):
        f.unlink()
    (crashed / 'final.pt').unlink()
    partial = Training(run, spec, model, torch.from_numpy(np.load(data_path)['train']), torch.device('cpu'))
    partial.attempts = 1  # as training_loop counts its first attempt
    for _ in range(10):
        partial.training_step()
    ckpt.save_rotating(crashed / 'checkpoints', partial)

    resumed = training_loop(run, spec, model, data_path, crashed)
    assert resumed.attempts == 2
    assert _state_equal(full.net, resumed.net) and _state_equal(full.target, resumed.target)
    assert _state_equal(full.ema, resumed.ema)
    assert _state_equal(full.loss.D, resumed.loss.D)
    steps = [json.loads(line)['step'] for line in (crashed / 'train_log.jsonl').read_text().splitlines()]
    assert steps == sorted(set(steps)) and steps[-1] == 20
    summary = json.loads((crashed / 'train_summary.json').read_text())
    assert summary['resumed_from_step'] == 10 and summary['attempts'] == 2


def test_truncate_log_survives_a_torn_last_line(tmp_path):
    """kill -9 during a log write leaves half a line; resuming drops it instead of failing to parse."""
    log = tmp_path / 'train_log.jsonl'
    log.write_text('{"step": 10, "wall_seconds": 1.5}\n{"step": 20, "wall_seconds": 3.0}\n{"step": 30, "wa')
    assert ckpt.truncate_log(log, 20) == 3.0
    assert log.read_text() == '{"step": 10, "wall_seconds": 1.5}\n{"step": 20, "wall_seconds": 3.0}\n'
