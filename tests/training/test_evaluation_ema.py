"""The evaluation EMA: a third set of generator weights (ct-spec §5), EDM's half-life in images with
ramp-up, never in the loss; final.pt and snapshots hold every network that can be evaluated; records name the
network."""

import copy
import dataclasses
import json
import math

import numpy as np
import pytest
import torch
import yaml

from act_bench import cli
from act_bench.data.bundled import prepare_dataset, save_dataset
from act_bench.runtime.errors import ConfigError
from act_bench.runtime.snapshots import NETWORK_KEYS, snapshot_files
from act_bench.training.build import load_generator
from act_bench.training.loop import Training, training_loop
from act_bench.training.schedules import evaluation_ema_decay
from conftest import TINY_CONFIG

MODEL = {'mlp_hidden': 16, 'mlp_layers': 2}


def _equal(a, b):
    return all(torch.equal(x, y) for x, y in zip(a.state_dict().values(), b.state_dict().values()))


def test_beta_is_edm_half_life_in_images_with_ramp_up():
    # a fixed decay r at batch B: half-life B·ln 0.5 / ln r images (CM's 0.9999 in the CT paper configs)
    assert evaluation_ema_decay(512, 10 ** 9, 512 * math.log(0.5) / math.log(0.9999), None) == pytest.approx(
        0.9999, abs=1e-15)
    assert evaluation_ema_decay(64, 0, 640, None) == pytest.approx(0.5 ** 0.1)
    # ramp-up: half-life min(h, ratio · images seen); the first step (0 images seen) copies the network
    assert evaluation_ema_decay(64, 0, 640, 0.1) == 0.0
    assert evaluation_ema_decay(64, 1280, 640, 0.1) == pytest.approx(0.5 ** (64 / 128))
    assert evaluation_ema_decay(64, 10 ** 6, 640, 0.1) == pytest.approx(0.5 ** 0.1)


def test_ema_is_a_third_set_of_weights_never_in_the_loss(make_run):
    data = torch.randn(64, 2)
    run = make_run(dataset='toy', method='ct', ema={'halflife_images': 40.0, 'rampup_ratio': None})
    tr = Training(run, {'kind': 'toy2d'}, MODEL, data, torch.device('cpu'))
    expected = copy.deepcopy(tr.ema)
    for _ in range(3):
        tr.training_step()
        beta = 0.5 ** (8 / 40.0)
        for p, q in zip(expected.parameters(), tr.net.parameters()):
            p.data.lerp_(q.data, 1 - beta)
    assert _equal(expected, tr.ema)
    assert not _equal(tr.ema, tr.target) and not _equal(tr.ema, tr.net)
    other = make_run(dataset='toy', method='ct', ema={'halflife_images': 1e6, 'rampup_ratio': 0.5})
    tr2 = Training(other, {'kind': 'toy2d'}, MODEL, data, torch.device('cpu'))
    for _ in range(3):
        tr2.training_step()
    assert _equal(tr.net, tr2.net) and _equal(tr.target, tr2.target)   # the EMA does not feed back
    assert not _equal(tr.ema, tr2.ema)


@pytest.fixture
def trained(tiny_config, make_run, tmp_path):
    data_path = tmp_path / 'toy.npz'
    save_dataset(prepare_dataset(tiny_config['datasets']['toy']), data_path)

    def train(network):
        run = dataclasses.replace(make_run(dataset='toy', method='ct', iterations=10, snapshot_every=5),
                                  network=network)
        run_dir = tmp_path / network
        training = training_loop(run, tiny_config['datasets']['toy'], tiny_config['models']['tiny'], data_path,
                                 run_dir)
        return run, run_dir, training
    return train


@pytest.mark.parametrize('network,attribute', [('ema', 'ema'), ('target', 'target'), ('online', 'net')])
def test_final_and_snapshots_hold_every_network(tiny_config, trained, network, attribute):
    run, run_dir, training = trained(network)
    assert {'net', 'target', 'ema'} <= set(torch.load(run_dir / 'final.pt', weights_only=True))
    net, state = load_generator(tiny_config, run, run_dir / 'final.pt')
    assert state['network'] == network and _equal(net, getattr(training, attribute))
    # snapshots hold all three as well: the evaluated network is no training setting
    snapshot = torch.load(snapshot_files(run_dir / 'snapshots')[-1], weights_only=True)
    assert {'net', 'target', 'ema'} <= set(snapshot)
    last, _ = load_generator(tiny_config, run, snapshot_files(run_dir / 'snapshots')[-1])
    assert _equal(last, net)
    other = dataclasses.replace(run, network='online' if network != 'online' else 'ema')
    last_other, state = load_generator(tiny_config, other, snapshot_files(run_dir / 'snapshots')[-1])
    assert state['network'] == other.network and _equal(last_other, getattr(training, NETWORK_KEYS[other.network]))
    torch.save({key: value for key, value in snapshot.items() if key != 'target'}, run_dir / 'older.pt')
    with pytest.raises(ConfigError, match='holds no target network'):   # a file without the evaluated network
        load_generator(tiny_config, dataclasses.replace(run, network='target'), run_dir / 'older.pt')


def test_every_record_names_the_network_it_scored(tmp_path):
    config = copy.deepcopy(TINY_CONFIG)
    config['evaluation'] = {'n_samples': 32}
    config['sweep'] = [{'dataset': ['toy'], 'method': ['act'], 'batch_size': [8], 'model': ['tiny'],
                        'evaluation_network': 'target'}]
    path = tmp_path / 'config.yaml'
    path.write_text(yaml.safe_dump(config))
    run = ['--config', str(path), '--dataset', 'toy', '--method', 'act', '--batch-size', '8', '--model', 'tiny',
           '--augment', 'off', '--seed', '0']
    data = tmp_path / 'toy.npz'
    assert cli.main(['prepare-data', '--config', str(path), '--dataset', 'toy', '--out', str(data)]) == 0
    assert cli.main(['train', *run, '--data', str(data), '--run-dir', str(tmp_path / 'run')]) == 0
    samples, metrics = tmp_path / 'samples.npz', tmp_path / 'metrics.json'
    assert cli.main(['sample', *run, '--final', str(tmp_path / 'run' / 'final.pt'), '--out', str(samples)]) == 0
    assert cli.main(['evaluate', *run, '--data', str(data), '--samples', str(samples), '--out', str(metrics)]) == 0
    records = json.loads(metrics.read_text())['records']
    assert records and {r['network'] for r in records} == {'target'}
    floor = tmp_path / 'floor.json'
    assert cli.main(['reference-metrics', '--config', str(path), '--dataset', 'toy', '--data', str(data),
                     '--out', str(floor)]) == 0
    assert {r['network'] for r in json.loads(floor.read_text())['records']} == {None}
    assert np.load(samples)['_network'] == 'target'
