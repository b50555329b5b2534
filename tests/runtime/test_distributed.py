"""Several processes (torchrun ranks, gloo on the CPU) train what one process trains on the same global
batch: weights, EMA, discriminator and ACT-Aug p agree up to float summation order. The ranks are
started as torchrun starts them (RANK, WORLD_SIZE, LOCAL_RANK, MASTER_* in the environment) running
`act-bench train`; the end-to-end relaunch through the real torchrun is a heavy test."""

import json
import multiprocessing
import os
import socket
import subprocess
import sys

import pytest
import torch

from act_bench.runtime import distributed
from act_bench.cli import main
from act_bench.data.bundled import prepare_dataset, save_dataset

CONFIG = """
name: ddp
datasets:
  digits: {{kind: digits, resolution: 16}}
models:
  tiny: {{unet_channels: [8, 16], disc_channels: [8, 16], norm_groups: 4}}
train: {{iterations: 6, s1: 10, checkpoint_every: 3, log_every: 1, r1_interval: 2, aug_threshold: 1.0e-6,
         ada_length: 100}}
resources: {{train: {{gpus: {gpus}}}}}
sweep:
  - {{dataset: [digits], method: [ct], batch_size: [8], model: [tiny], seed: [0]}}
  - {{dataset: [digits], method: [act], batch_size: [8], model: [tiny], augment: ["on"], seed: [0]}}
"""
TOLERANCE = 1e-5   # max |Δ| of any weight after 6 steps; measured ≤ 2.5e-7 (D), 1.5e-8 (G): float sum order


def _free_port():
    with socket.socket() as s:
        s.bind(('127.0.0.1', 0))
        return s.getsockname()[1]


def _train_args(cfg, data, run_dir, method):
    return ['train', '--config', str(cfg), '--dataset', 'digits', '--method', method, '--batch-size', '8',
            '--model', 'tiny', '--augment', 'on' if method == 'act' else 'off', '--seed', '0',
            '--data', str(data), '--run-dir', str(run_dir)]


def _rank(rank, world, commands):
    """One rank: run each command with the environment torchrun gives rank `rank` (a new port each,
    as torchrun starts a new rendezvous for each command)."""
    torch.set_num_threads(1)
    for port, args in commands:
        os.environ.update(RANK=str(rank), LOCAL_RANK=str(rank), WORLD_SIZE=str(world), LOCAL_WORLD_SIZE=str(world),
                          MASTER_ADDR='127.0.0.1', MASTER_PORT=str(port))
        code = main(args)
        if code:
            sys.exit(code)


def _as_torchrun_ranks(*commands, world=2):
    """Run each `act-bench <args>` of `commands` in turn in `world` ranks. The ranks are forked from this
    process (which has imported torch already: importing it twice more takes most of a minute on a busy
    2-core machine) and then run exactly what a torchrun child runs: `act-bench train` under the
    environment variables torchrun sets."""
    commands = [(_free_port(), args) for args in commands]
    ctx = multiprocessing.get_context('fork')
    procs = [ctx.Process(target=_rank, args=(rank, world, commands)) for rank in range(world)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(timeout=300)
    assert [p.exitcode for p in procs] == [0] * world


@pytest.fixture(scope='module')
def setup(tmp_path_factory):
    tmp = tmp_path_factory.mktemp('ddp')
    configs = {}
    for gpus in (0, 2):
        configs[gpus] = tmp / f'ddp{gpus}.yaml'
        configs[gpus].write_text(CONFIG.format(gpus=gpus))
    data = tmp / 'digits.npz'
    save_dataset(prepare_dataset({'kind': 'digits', 'resolution': 16, 'eval_fraction': 0.2}), data)
    return tmp, configs, data


@pytest.fixture(scope='module')
def trained(setup):
    """CT and ACT-Aug in one process and in two ranks; and the ACT run resumed by two ranks from the
    one-process run's step-3 checkpoint."""
    tmp, configs, data = setup
    for method in ('ct', 'act'):
        assert main(_train_args(configs[0], data, tmp / f'{method}-single', method)) == 0
    resumed = tmp / 'act-resumed'
    (resumed / 'checkpoints').mkdir(parents=True)
    src = tmp / 'act-single' / 'checkpoints' / 'ckpt-000000003.pt'
    (resumed / 'checkpoints' / src.name).write_bytes(src.read_bytes())
    log = (tmp / 'act-single' / 'train_log.jsonl').read_text().splitlines()
    (resumed / 'train_log.jsonl').write_text(''.join(line + '\n' for line in log if json.loads(line)['step'] <= 3))
    _as_torchrun_ranks(*[_train_args(configs[2], data, tmp / f'{m}-multi', m) for m in ('ct', 'act')],
                       _train_args(configs[2], data, resumed, 'act'))
    return tmp


def _max_abs_diff(a, b):
    assert a.keys() == b.keys()
    return max((a[k].float() - b[k].float()).abs().max().item() for k in a)


def _load(path):
    return torch.load(path, weights_only=True)


@pytest.mark.parametrize('method', ['ct', 'act'])
def test_two_ranks_match_one_process_on_the_global_batch(trained, method):
    single, multi = trained / f'{method}-single', trained / f'{method}-multi'
    a, b = _load(single / 'final.pt'), _load(multi / 'final.pt')
    print(f'{method}: max |weight difference| net {_max_abs_diff(a["net"], b["net"]):.2e}, '
          f'ema {_max_abs_diff(a["ema"], b["ema"]):.2e}')
    assert _max_abs_diff(a['net'], b['net']) < TOLERANCE
    assert _max_abs_diff(a['ema'], b['ema']) < TOLERANCE
    ca, cb = _load(single / 'checkpoints' / 'ckpt-000000006.pt'), _load(multi / 'checkpoints' / 'ckpt-000000006.pt')
    if method == 'act':
        print(f'act: max |D weight difference| {_max_abs_diff(ca["loss"]["D"], cb["loss"]["D"]):.2e}')
        assert _max_abs_diff(ca['loss']['D'], cb['loss']['D']) < TOLERANCE
        p_a, p_b = ca['loss']['controller'], cb['loss']['controller']
        assert p_a['p'] == p_b['p'] > 0.5   # augmentation was really on, and p moved the same way
        assert p_a['r1_ema'] == pytest.approx(p_b['r1_ema'], rel=1e-4)
    assert ca['sampler']['rng'].equal(cb['sampler']['rng'])   # the same global batches were drawn
    logs = [[json.loads(line) for line in (d / 'train_log.jsonl').read_text().splitlines()] for d in (single, multi)]
    assert [r['step'] for r in logs[0]] == [r['step'] for r in logs[1]] == [1, 2, 3, 4, 5, 6]   # rank 0 only
    assert [r['loss'] for r in logs[1]] == pytest.approx([r['loss'] for r in logs[0]], rel=1e-4)
    summaries = [json.loads((d / 'train_summary.json').read_text()) for d in (single, multi)]
    assert summaries[0]['n_devices'] == 1 and summaries[1]['n_devices'] == 2
    assert sorted(p.name for p in multi.iterdir()) == ['checkpoints', 'final.pt', 'train_log.jsonl',
                                                       'train_summary.json']


def test_two_ranks_resume_from_a_checkpoint(trained):
    a, b = _load(trained / 'act-single' / 'final.pt'), _load(trained / 'act-resumed' / 'final.pt')
    assert _max_abs_diff(a['net'], b['net']) < TOLERANCE
    summary = json.loads((trained / 'act-resumed' / 'train_summary.json').read_text())
    assert summary['resumed_from_step'] == 3 and summary['n_devices'] == 2 and summary['attempts'] == 2


def test_train_relaunches_itself_under_torchrun(setup, monkeypatch):
    tmp, configs, data = setup
    for key in ('RANK', 'WORLD_SIZE', 'LOCAL_RANK', 'MASTER_ADDR', 'MASTER_PORT'):
        monkeypatch.delenv(key, raising=False)
    calls = []

    class Exec(Exception):
        pass

    def fake_execv(path, argv):
        calls.append((path, argv))
        raise Exec

    monkeypatch.setattr(os, 'execv', fake_execv)
    args = _train_args(configs[2], data, tmp / "it's a dir; rm -rf x", 'ct')
    with pytest.raises(Exec):
        main(args)
    assert calls == [(sys.executable, [sys.executable, '-m', 'torch.distributed.run', '--standalone',
                                       '--nproc_per_node=2', '-m', 'act_bench.cli', *args])]   # no shell


def test_without_torchrun_everything_is_a_no_op():
    assert distributed.get_world_size() == 1 and distributed.is_main()
    x = torch.arange(4.0)
    assert distributed.rows(lambda m: torch.arange(float(m)), 4).equal(x)
    assert distributed.average(x.sum()) is not None and distributed.any_rank([]) is False
    assert distributed.share([8, 4, 4]).equal(torch.arange(16))


@pytest.mark.heavy
def test_real_torchrun_two_processes_end_to_end(setup):
    """`act-bench train` with resources.train.gpus 2 on a CPU machine: it execs torchrun --standalone,
    which starts two gloo ranks; the result matches one process."""
    tmp, configs, data = setup
    single, multi = tmp / 'e2e-single', tmp / 'e2e-multi'
    assert main(_train_args(configs[0], data, single, 'act')) == 0
    env = {k: v for k, v in os.environ.items() if k not in ('RANK', 'WORLD_SIZE', 'LOCAL_RANK', 'MASTER_ADDR',
                                                            'MASTER_PORT')}
    subprocess.run([sys.executable, '-m', 'act_bench.cli', *_train_args(configs[2], data, multi, 'act')], env=env,
                   check=True, timeout=600)
    assert _max_abs_diff(_load(single / 'final.pt')['net'], _load(multi / 'final.pt')['net']) < TOLERANCE
    assert json.loads((multi / 'train_summary.json').read_text())['n_devices'] == 2
