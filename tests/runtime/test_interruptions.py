"""Pre-emption: kill -9 at several points, or SIGTERM, and resume; the final weights are bitwise equal
to an uninterrupted run (deterministic CPU settings), and the time of every attempt is counted.
A few minutes of subprocess training: marked heavy (`pytest -m heavy`, run by .ci/run)."""

import json
import signal
import subprocess
import sys
import time

import pytest
import torch

CONFIG = """
name: interrupt
datasets:
  toy: {kind: toy2d, distribution: eight_gaussians, n_train: 512, n_eval: 64}
models:
  tiny: {mlp_hidden: 32, mlp_layers: 2}
train: {iterations: 1500, checkpoint_every: 50, log_every: 10, r1_interval: 4, aug_threshold: 0.000001}
sweep:
  - {dataset: [toy], method: [act], batch_size: [16], model: [tiny], augment: ["on"], seed: [0]}
"""


@pytest.fixture
def setup(tmp_path):
    cfg = tmp_path / 'interrupt.yaml'
    cfg.write_text(CONFIG)
    data = tmp_path / 'toy.npz'
    subprocess.run([sys.executable, '-m', 'act_bench.cli', 'prepare-data', '--config', str(cfg), '--dataset', 'toy',
                    '--out', str(data)], check=True)

    def train(run_dir):
        return subprocess.Popen([sys.executable, '-m', 'act_bench.cli', 'train', '--config', str(cfg),
                                 '--dataset', 'toy', '--method', 'act', '--batch-size', '16', '--model', 'tiny',
                                 '--augment', 'on', '--seed', '0', '--data', str(data), '--run-dir', str(run_dir)],
                                stderr=subprocess.PIPE, text=True)
    return tmp_path, train


def _logged_step(run_dir):
    log = run_dir / 'train_log.jsonl'
    text = log.read_text() if log.exists() else ''
    complete = text[:text.rfind('\n') + 1].splitlines()   # the writer may be mid-line
    return json.loads(complete[-1])['step'] if complete else 0


def _wait_until_step(proc, run_dir, step):
    while _logged_step(run_dir) < step:
        assert proc.poll() is None, 'training finished before it could be interrupted'
        time.sleep(0.02)


def _final(run_dir):
    state = torch.load(run_dir / 'final.pt', weights_only=True)
    return state['net'], state['ema']


def _assert_bitwise_equal(a, b):
    for sa, sb in zip(_final(a), _final(b)):
        assert sa.keys() == sb.keys()
        assert all(torch.equal(sa[k], sb[k]) for k in sa)


@pytest.mark.heavy
def test_kill_9_at_several_points_then_resume_is_bitwise_equal(setup):
    tmp, train = setup
    reference = tmp / 'reference'
    assert train(reference).wait() == 0
    run = tmp / 'killed'
    for stop_at in (120, 610, 1220):
        proc = train(run)
        _wait_until_step(proc, run, stop_at)
        proc.kill()   # SIGKILL: no chance to write anything
        proc.wait()
    proc = train(run)
    assert proc.wait() == 0, proc.stderr.read()
    _assert_bitwise_equal(reference, run)
    summary = json.loads((run / 'train_summary.json').read_text())
    assert summary['attempts'] == 4 and summary['resumed_from_step'] >= 1200
    assert summary['lost_seconds'] > 0   # work after the last checkpoint of killed attempts still counts
    assert summary['wall_seconds'] >= summary['train_seconds'] + summary['lost_seconds']
    steps = [json.loads(line)['step'] for line in (run / 'train_log.jsonl').read_text().splitlines()]
    assert steps == sorted(set(steps)) and steps[-1] == 1500


@pytest.mark.heavy
@pytest.mark.parametrize('signum', [signal.SIGTERM, signal.SIGUSR1])
def test_sigterm_writes_a_checkpoint_and_exits_retryable(setup, signum):
    tmp, train = setup
    run = tmp / 'signalled'
    proc = train(run)
    _wait_until_step(proc, run, 200)
    proc.send_signal(signum)
    assert proc.wait() == 75
    assert 'checkpoint is written' in proc.stderr.read()
    newest = sorted((run / 'checkpoints').glob('ckpt-*.pt'))[-1]
    stopped = torch.load(newest, weights_only=True)['step']
    assert stopped == _logged_step(run) >= 200   # logged and saved at the step it stopped
    assert not (run / 'final.pt').exists()
    assert train(run).wait() == 0
    assert json.loads((run / 'train_summary.json').read_text())['resumed_from_step'] == stopped
