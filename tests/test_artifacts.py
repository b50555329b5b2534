"""Artifacts that know their run: a truncated final.pt, samples.npz, metrics.json, params.json or Inception weights
file, one of another run or written under other settings, and a readable file of the Inception's name that is not
the network, each stop the command that reads it with one sentence naming the file and how it is rewritten.
(Feature shards: tests/evaluation/test_inception.py.)"""

import json
import re
import shutil

import numpy as np
import pytest
import torch
import yaml
from torch import nn

from act_bench import layout
from act_bench.cli import main
from act_bench.config import expand_runs, load_config
from act_bench.data.bundled import prepare_dataset, save_dataset
from act_bench.evaluation.fid import WEIGHTS_FILE, WEIGHTS_URL, InceptionFeatures
from act_bench.runtime.errors import ConfigError

CONFIG = {
    'name': 'art',
    'datasets': {'toy': {'kind': 'toy2d', 'distribution': 'eight_gaussians', 'n_train': 128, 'n_eval': 32}},
    'models': {'tiny': {'mlp_hidden': 16, 'mlp_layers': 2}},
    'train': {'iterations': 4, 's1': 10, 'checkpoint_every': 2, 'log_every': 1, 'r1_interval': 2},
    'sweep': [{'dataset': ['toy'], 'method': ['ct', 'act'], 'batch_size': [8], 'model': ['tiny'], 'seed': [0]}],
    'evaluation': {'n_samples': 32, 'batch_size': 32},
}
DIGESTS = r'\(train digest [0-9a-f]{12}, evaluation digest [0-9a-f]{12}\)'


def run_options(config, method):
    return ['--config', str(config), '--dataset', 'toy', '--method', method, '--batch-size', '8', '--model', 'tiny',
            '--augment', 'off', '--seed', '0']


@pytest.fixture(scope='module')
def trained(tmp_path_factory):
    """A config file, its data and the workflow folder of the finished CT and ACT runs (final.pt, then the
    postprocess rule's samples.npz, metrics.json and params.json) at their results/ paths."""
    work = tmp_path_factory.mktemp('artifacts')
    config = work / 'art.yaml'
    config.write_text(yaml.safe_dump(CONFIG))
    data = work / 'toy.npz'
    save_dataset(prepare_dataset(CONFIG['datasets']['toy']), data)
    for run in expand_runs(load_config(config)):
        d = work / run.path
        assert main(['train', *run_options(config, run.method), '--data', str(data), '--run-dir', str(d)]) == 0
        assert main(['postprocess', *run_options(config, run.method), '--final', str(d / 'final.pt'),
                     '--data', str(data), '--run-dir', str(d)]) == 0
    return config, data, work


def run_dir(work, method):
    return work / layout.run_dir(name='art', variant_dir='', dataset='toy', method=method, batch_size=8, model='tiny',
                                 augment='off', seed=0)


def copied_runs(work, tmp_path):
    """Copies of both finished runs at their results/ paths under tmp_path, to damage; {method: run directory}."""
    out = {}
    for method in ('ct', 'act'):
        out[method] = tmp_path / run_dir(work, method).relative_to(work)
        shutil.copytree(run_dir(work, method), out[method], ignore=shutil.ignore_patterns('checkpoints', 'snapshots'))
    return out


def with_evaluation(config, tmp_path, **evaluation):
    """A copy of the config file whose `evaluation` is updated."""
    values = yaml.safe_load(config.read_text())
    values['evaluation'].update(evaluation)
    out = tmp_path / 'edited.yaml'
    out.write_text(yaml.safe_dump(values))
    return out


def error_line(capsys, command):
    err = [line for line in capsys.readouterr().err.splitlines() if line.strip()]
    assert len(err) == 1 and 'Traceback' not in err[0], err
    assert err[0].startswith(f'act-bench {command}: error: ')
    return err[0]


def truncated(path, tmp_path):
    out = tmp_path / path.name
    out.write_bytes(path.read_bytes()[:len(path.read_bytes()) // 2])
    return out


def aggregate(config, runs, tmp_path):
    return main(['aggregate', '--config', str(config), *[a for d in runs for a in ('--run', str(d))],
                 '--out', str(tmp_path / 'summary.csv')])

#----------------------------------------------------------------------------
# final.pt and samples.npz.

def test_a_truncated_final_pt_is_one_sentence(trained, tmp_path, capsys):
    config, _, work = trained
    final = truncated(run_dir(work, 'ct') / 'final.pt', tmp_path)
    assert main(['sample', *run_options(config, 'ct'), '--final', str(final), '--out', str(tmp_path / 's.npz')]) == 1
    line = error_line(capsys, 'sample')
    assert f'{final} is truncated or damaged (not a readable torch checkpoint)' in line
    assert '--forcerun train' in line


def test_a_foreign_final_pt_is_refused(trained, tmp_path, capsys):
    config, _, work = trained
    assert main(['sample', *run_options(config, 'act'), '--final', str(run_dir(work, 'ct') / 'final.pt'),
                 '--out', str(tmp_path / 's.npz')]) == 1
    line = error_line(capsys, 'sample')
    assert re.search(r'final\.pt was written for run \S+/ct/batch8/\S+ \(train digest [0-9a-f]{12}\), not for run '
                     r'\S+/act/batch8/\S+ \(train digest [0-9a-f]{12}\)', line), line


def test_final_pt_serves_any_evaluated_network(trained, tmp_path):
    """evaluation.network is no training setting: the run's final.pt samples its target network as well."""
    config, _, work = trained
    target = with_evaluation(config, tmp_path, network='target')
    out = tmp_path / 's.npz'
    assert main(['sample', *run_options(target, 'ct'), '--final', str(run_dir(work, 'ct') / 'final.pt'),
                 '--out', str(out)]) == 0
    with np.load(out) as f:
        assert str(f['_network']) == 'target'


def test_a_truncated_samples_npz_is_one_sentence(trained, tmp_path, capsys):
    config, data, work = trained
    samples = truncated(run_dir(work, 'ct') / 'samples.npz', tmp_path)
    assert main(['evaluate', *run_options(config, 'ct'), '--samples', str(samples), '--data', str(data),
                 '--out', str(tmp_path / 'm.json')]) == 1
    line = error_line(capsys, 'evaluate')
    assert f'{samples} is truncated or damaged (not a readable .npz archive)' in line
    assert '--forcerun postprocess' in line


def test_a_foreign_samples_npz_is_refused(trained, tmp_path, capsys):
    config, data, work = trained
    samples = run_dir(work, 'ct') / 'samples.npz'
    assert main(['evaluate', *run_options(config, 'act'), '--samples', str(samples), '--data', str(data),
                 '--out', str(tmp_path / 'm.json')]) == 1
    line = error_line(capsys, 'evaluate')
    assert re.search(rf'{re.escape(str(samples))} was written for run \S+/ct/batch8/\S+ {DIGESTS}, not for run '
                     rf'\S+/act/batch8/\S+ {DIGESTS}; .*--forcerun postprocess', line), line


def test_samples_of_another_evaluated_network_are_refused(trained, tmp_path, capsys):
    config, data, work = trained
    samples = run_dir(work, 'ct') / 'samples.npz'
    target = with_evaluation(config, tmp_path, network='target')
    assert main(['evaluate', *run_options(target, 'ct'), '--samples', str(samples), '--data', str(data),
                 '--out', str(tmp_path / 'm.json')]) == 1
    line = error_line(capsys, 'evaluate')
    digests = re.findall(r'\(train digest ([0-9a-f]{12}), evaluation digest ([0-9a-f]{12})\)', line)
    assert len(digests) == 2 and digests[0][0] == digests[1][0] and digests[0][1] != digests[1][1], line


def test_metrics_records_carry_the_run_digests_and_code(trained, tmp_path):
    config, data, work = trained
    out = tmp_path / 'm.json'
    assert main(['evaluate', *run_options(config, 'act'), '--samples', str(run_dir(work, 'act') / 'samples.npz'),
                 '--data', str(data), '--out', str(out)]) == 0
    metrics = json.loads(out.read_text())
    for record in metrics['records']:
        provenance = record['provenance']
        assert provenance['run'].endswith('/act/batch8/tiny/aug-off/seed0') and len(provenance['train_digest']) == 12
        assert len(provenance['evaluation_digest']) == 12 and provenance['torch'] and provenance['device_name'] == 'cpu'
        assert {'act_bench_version', 'git_commit', 'git_dirty', 'diffusers', 'clean_fid'} <= set(provenance)
        assert record['network'] == 'ema'

#----------------------------------------------------------------------------
# metrics.json and params.json, as the aggregate rule reads them.

def test_the_finished_runs_aggregate(trained, tmp_path):
    config, _, work = trained
    assert aggregate(config, [run_dir(work, m) for m in ('ct', 'act')], tmp_path) == 0


@pytest.mark.parametrize('name,what', [('metrics.json', 'JSON file'), ('params.json', 'JSON file')])
def test_a_truncated_metrics_or_params_json_is_one_sentence(trained, tmp_path, capsys, name, what):
    config, _, work = trained
    runs = copied_runs(work, tmp_path)
    path = runs['act'] / name
    path.write_text(path.read_text()[:len(path.read_text()) // 2])
    assert aggregate(config, runs.values(), tmp_path) == 1
    line = error_line(capsys, 'aggregate')
    assert f'{path} is truncated or damaged (not a readable {what})' in line and '--forcerun postprocess' in line


@pytest.mark.parametrize('name,digests', [('metrics.json', DIGESTS), ('params.json', r'\(train digest [0-9a-f]{12}\)')])
def test_a_foreign_metrics_or_params_json_is_refused(trained, tmp_path, capsys, name, digests):
    config, _, work = trained
    runs = copied_runs(work, tmp_path)
    shutil.copy(runs['ct'] / name, runs['act'] / name)
    assert aggregate(config, runs.values(), tmp_path) == 1
    line = error_line(capsys, 'aggregate')
    assert re.search(rf'{re.escape(str(runs["act"] / name))} was written for run \S+/ct/batch8/\S+ {digests}, not '
                     rf'for run \S+/act/batch8/\S+ {digests}; .*--forcerun postprocess', line), line


def test_metrics_of_another_evaluated_network_are_refused(trained, tmp_path, capsys):
    config, _, work = trained
    runs = [run_dir(work, m) for m in ('ct', 'act')]
    assert aggregate(with_evaluation(config, tmp_path, network='target'), runs, tmp_path) == 1
    line = error_line(capsys, 'aggregate')
    assert f'{runs[0] / "metrics.json"} was written for run ' in line and '--forcerun postprocess' in line
    digests = re.findall(r'\(train digest ([0-9a-f]{12}), evaluation digest ([0-9a-f]{12})\)', line)
    assert len(digests) == 2 and digests[0][0] == digests[1][0] and digests[0][1] != digests[1][1], line

#----------------------------------------------------------------------------
# The Inception weights users bring.

def test_truncated_inception_weights_name_the_file(tmp_path):
    (tmp_path / WEIGHTS_FILE).write_bytes(b'PK\x03\x04' + b'\0' * 64)
    with pytest.raises(ConfigError) as e:
        InceptionFeatures(tmp_path)
    assert str(e.value).startswith(f'the Inception weights {tmp_path / WEIGHTS_FILE} are truncated or damaged')
    assert 'fetch it again from https://' in str(e.value)


class NoPoolFeatures(nn.Module):
    """Has the Inception's `layers` and `output`, but its features are not 2048 pool3 features."""

    def __init__(self):
        super().__init__()
        self.layers = nn.Identity()
        self.output = nn.Linear(2048, 1008)

    def forward(self, img: torch.Tensor, return_features: bool = False, use_fp16: bool = False,
                no_output_bias: bool = False) -> torch.Tensor:
        return img.mean((2, 3))


class MeanFeatures(nn.Module):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.mean((1, 2, 3)).reshape(-1, 1).repeat(1, 2048)


class NoClassifier(nn.Module):
    """Gives (N, 2048) features as the Inception does (`layers` too), but has no 1008-way `output` layer."""

    def __init__(self):
        super().__init__()
        self.layers = MeanFeatures()
        self.output = nn.Linear(2048, 10)

    def forward(self, img: torch.Tensor, return_features: bool = False, use_fp16: bool = False,
                no_output_bias: bool = False) -> torch.Tensor:
        return self.layers(img)


@pytest.mark.filterwarnings('ignore:`torch.jit.:FutureWarning')
@pytest.mark.parametrize('module,reason', [
    (nn.Linear(4, 4), 'it has no `layers` module'),
    (NoPoolFeatures(), 'it gives no 2048 pool3 features for a test image'),
    (NoClassifier(), 'it has no `output` layer of 2048 features to 1008 logits')])
@pytest.mark.parametrize('mode', ['legacy_tensorflow', 'clean'])
def test_foreign_inception_weights_name_the_file(tmp_path, module, reason, mode):
    """A readable TorchScript file of that name that is not the network (another model saved under it)."""
    path = tmp_path / WEIGHTS_FILE
    torch.jit.save(torch.jit.script(module), str(path))
    with pytest.raises(ConfigError) as e:
        InceptionFeatures(tmp_path, mode=mode)
    assert str(e.value) == (f"the Inception weights {path} are not clean-fid's Inception network (a damaged or "
                            f'foreign file: {reason}): delete the file and fetch it again from {WEIGHTS_URL} into '
                            f'{tmp_path}')
