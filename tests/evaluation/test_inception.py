"""Inception FID / IS in the workflow: mergeable statistics, sharded sampling, reference statistics and
the CLI commands of the FID rules, through clean-fid's real loader with a small TorchScript stand-in for
inception-2015-12-05.pt written by the test (conftest.StandInInception). Nothing is downloaded."""

import copy
import json
import math
import re

import numpy as np
import pytest
import scipy.linalg
import torch
import yaml
from PIL import Image

from act_bench import cli
from act_bench.evaluation.fid import WEIGHTS_FILE, feature_statistics, inception_score
from act_bench.evaluation.frechet import frechet_distance
from act_bench.evaluation.inception import InceptionStatistics, inception_records
from act_bench.training.sampling import sample_range
from conftest import write_stand_in_inception

pytestmark = [pytest.mark.filterwarnings('ignore:`torch.jit.:FutureWarning'), pytest.mark.usefixtures('no_downloads')]


def _stats_in_parts(features, logits, cuts, splits, batch=3):
    """Statistics of [0, n) accumulated in batches, in parts that are then merged."""
    n = len(features)
    parts = []
    for lo, hi in zip(cuts[:-1], cuts[1:]):
        s = InceptionStatistics(n, splits, features.shape[1], logits.shape[1])
        for i in range(lo, hi, batch):
            s.add(features[i:min(i + batch, hi)], logits[i:min(i + batch, hi)], i)
        parts.append(s)
    merged = InceptionStatistics(n, splits, features.shape[1], logits.shape[1])
    for s in reversed(parts):
        merged.merge(s)
    return merged


def test_merged_statistics_equal_one_pass():
    rng = np.random.default_rng(0)
    features = rng.standard_normal((41, 6)) * [1, 2, 3, 0.5, 1, 4] + 10
    logits = 3 * rng.standard_normal((41, 7))
    merged = _stats_in_parts(features, logits, [0, 5, 17, 18, 41], splits=4)
    mu, sigma = merged.fid_statistics()
    mu_ref, sigma_ref = feature_statistics(features)
    np.testing.assert_allclose(mu, mu_ref, rtol=1e-12)
    np.testing.assert_allclose(sigma, sigma_ref, rtol=1e-10, atol=1e-12)
    assert merged.inception_score() == pytest.approx(inception_score(logits, splits=4), rel=1e-10)
    with pytest.raises(ValueError, match='merge'):
        merged.merge(InceptionStatistics(40, 4, 6, 7))
    with pytest.raises(ValueError, match='hold no samples'):
        _stats_in_parts(features, logits, [0, 20], splits=4).inception_score()


def test_frechet_distance_of_known_gaussians_from_merged_statistics():
    """Features from two Gaussians with known means and covariances; FID from the merged statistics vs
    a direct numpy/scipy computation and vs the closed form of the true Gaussians."""
    rng = np.random.default_rng(1)
    d, n = 4, 30_000
    a, b = rng.standard_normal((d, d)), rng.standard_normal((d, d))
    m1, m2, s1, s2 = np.zeros(d), np.array([1.0, -0.5, 0, 2]), a @ a.T + np.eye(d), b @ b.T + 0.5 * np.eye(d)
    x1, x2 = rng.multivariate_normal(m1, s1, n), rng.multivariate_normal(m2, s2, n)
    logits = np.zeros((n, 3))
    mu1, c1 = _stats_in_parts(x1, logits, [0, 7_000, n], 2, batch=1000).fid_statistics()
    mu2, c2 = _stats_in_parts(x2, logits, [0, 12_345, n], 2, batch=999).fid_statistics()
    direct = ((x1.mean(0) - x2.mean(0)) ** 2).sum() + np.trace(
        np.cov(x1, rowvar=False) + np.cov(x2, rowvar=False)
        - 2 * scipy.linalg.sqrtm(np.cov(x1, rowvar=False) @ np.cov(x2, rowvar=False)).real)
    assert frechet_distance(mu1, c1, mu2, c2) == pytest.approx(direct, rel=1e-9)
    true = ((m1 - m2) ** 2).sum() + np.trace(s1 + s2 - 2 * scipy.linalg.sqrtm(s1 @ s2).real)
    assert frechet_distance(mu1, c1, mu2, c2) == pytest.approx(true, rel=0.05)


class _Net(torch.nn.Module):
    sigma_min, sigma_max = 0.002, 80.0

    def forward(self, x, sigma, labels=None):
        return torch.tanh(x / sigma.reshape(-1, 1, 1, 1)) + (0 if labels is None else labels.reshape(-1, 1, 1, 1))


def test_sample_ranges_draw_the_same_stream():
    net, shape = _Net(), (1, 2, 2)
    whole = list(sample_range(net, shape, 0, 20, batch_size=6, mid_sigma=0.8, num_classes=3))
    parts = [b for lo, hi in ((0, 7), (7, 8), (8, 20)) for b in sample_range(net, shape, lo, hi, 6, mid_sigma=0.8,
                                                                           num_classes=3)]
    for name in ('1-step', '2-step'):
        a, b = (torch.cat([x[name] for _, x in batches]) for batches in (whole, parts))
        assert a.shape == (20, 1, 2, 2) and torch.equal(a, b)
    assert [first for first, _ in parts] == [0, 6, 7, 8, 12, 18]
    assert not torch.equal(whole[0][1]['1-step'], whole[0][1]['2-step'])

#----------------------------------------------------------------------------
# The CLI commands of the FID rules on a tiny image_folder dataset.

@pytest.fixture(scope='module')
def setup(tmp_path_factory):
    root = tmp_path_factory.mktemp('fid_workflow')
    (root / 'inception').mkdir()
    write_stand_in_inception(root / 'inception')
    torch.manual_seed(0)
    rng = np.random.default_rng(0)
    (root / 'images').mkdir()
    for i in range(12):
        Image.fromarray(rng.integers(0, 256, (10, 10, 3), dtype=np.uint8)).save(root / 'images' / f'{i:02d}.png')
    config = {
        'name': 'fid-unit', 'device': 'cpu',
        'datasets': {'tiny': {'kind': 'image_folder', 'path': str(root / 'images'), 'resolution': 8}},
        'models': {'tiny': {'unet_channels': [8, 16], 'disc_channels': [8, 16], 'norm_groups': 4}},
        'train': {'iterations': 2, 's1': 4, 'checkpoint_every': 2, 'log_every': 1, 'r1_interval': 2},
        'sweep': [{'dataset': ['tiny'], 'method': ['ct'], 'batch_size': [4], 'model': ['tiny']}],
        'evaluation': {'n_samples': 20, 'batch_size': 6,
                       'fid': {'inception_weights': str(root / 'inception'), 'shards': 2, 'batch_size': 5,
                               'is_splits': 2}}}
    paths = {'root': root, 'config': root / 'config.yaml', 'run': root / 'run', 'ref': root / 'ref.npz'}
    paths['config'].write_text(yaml.safe_dump(config))
    run = ['--config', str(paths['config']), '--dataset', 'tiny', '--method', 'ct', '--batch-size', '4',
           '--model', 'tiny', '--augment', 'off', '--seed', '0']
    assert cli.main(['train', *run, '--run-dir', str(paths['run'])]) == 0
    assert cli.main(['fid-reference', '--config', str(paths['config']), '--dataset', 'tiny',
                     '--mode', 'legacy_tensorflow', '--out', str(paths['ref'])]) == 0
    for shard in (0, 1):
        assert cli.main(['sample-features', *run, '--final', str(paths['run'] / 'final.pt'), '--shard', str(shard),
                         '--out', str(paths['run'] / 'fid' / f'shard{shard}.npz')]) == 0
    return {**paths, 'run_args': run, 'config_dict': config}


def test_reference_statistics_of_the_training_images(setup):
    from act_bench.config import load_config
    from act_bench.evaluation.fid import load_statistics
    from act_bench.evaluation.inception import build_extractor
    mu, sigma, meta = load_statistics(setup['ref'])
    assert meta['n'] == 12 and meta['mode'] == 'legacy_tensorflow' and meta['dataset'] == 'tiny'
    assert 'training set' in meta['source']
    # the same statistics from the training pipeline's images, quantised back exactly
    from act_bench.data.images import open_dataset
    images = torch.stack([open_dataset(load_config(setup['config'])['datasets']['tiny'])[i][0] for i in range(12)])
    pixels = ((images + 1) * 127.5).round().to(torch.uint8)
    features = build_extractor(load_config(setup['config']))(pixels)
    np.testing.assert_allclose(mu, features.mean(0), rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(sigma, np.cov(features, rowvar=False), rtol=1e-8, atol=1e-12)


@pytest.fixture
def fid_spy(monkeypatch):
    """These tests record what reaches the Fréchet distance of 2048-dimensional statistics (seconds per
    call on 2 cores; checked against scipy and clean-fid in test_fid.py, test_frechet.py and above; the
    heavy workflow test runs it for real) and return the trace term's upper bound."""
    calls = []

    def spy(mu1, sigma1, mu2, sigma2):
        calls.append((mu1, sigma1, mu2, sigma2))
        return float(((mu1 - mu2) ** 2).sum() + np.trace(sigma1) + np.trace(sigma2))
    monkeypatch.setattr('act_bench.evaluation.inception.frechet_distance', spy)
    return calls


# The float32 network's outputs for the same image differ between batch compositions and CPUs' kernels by
# a few float32 roundings per layer: ~1e-6 relative seen here, bounded with margin at 1e-5 (~80 eps32).
NETWORK_RTOL = 1e-5


def _direct_statistics(setup):
    """Features and IS of the run's 20 samples generated in one pass, without shards or merging."""
    from act_bench.config import find_run, load_config
    from act_bench.evaluation.inception import build_extractor
    from act_bench.training.build import load_generator
    config = load_config(setup['config'])
    run = find_run(config, dataset='tiny', method='ct', batch_size=4, model='tiny', augment='off', seed=0)
    net, state = load_generator(config, run, setup['run'] / 'final.pt')
    extractor = build_extractor(config)
    out = {}
    for sampler in ('1-step', '2-step'):
        images = torch.cat([b[sampler] for _, b in sample_range(net, tuple(state['shape']), 0, 20, 6, seed=10_000,
                                                                 mid_sigma=0.821)])
        features, logits = extractor.features_and_logits(images)
        out[sampler] = (*feature_statistics(features), inception_score(logits, splits=2))
    return out


def test_evaluate_fid_merges_shards_into_records(setup, tmp_path, fid_spy):
    from act_bench.evaluation.fid import load_statistics
    shards = [str(setup['run'] / 'fid' / f'shard{i}.npz') for i in (0, 1)]
    out = tmp_path / 'metrics.json'
    assert cli.main(['evaluate-fid', *setup['run_args'], '--features', *shards, '--reference', str(setup['ref']),
                     '--out', str(out)]) == 0
    result = json.loads(out.read_text())
    by = {(r['metric'], r['sampler']): r for r in result['records']}
    assert set(by) == {('fid', '1-step'), ('is', '1-step'), ('fid', '2-step'), ('is', '2-step')}
    assert result['records'][0]['metric'] == 'fid'  # the primary metric
    for (metric, _), r in by.items():
        assert r['n_generated'] == 20 and r['mode'] == 'legacy_tensorflow' and r['network'] == 'ema'
        assert r['feature_extractor'] == 'inception-v3 (clean-fid legacy_tensorflow)'
        assert math.isfinite(r['value']) and r['value'] >= (0 if metric == 'fid' else 1)
    assert by[('fid', '1-step')]['n_reference'] == 12
    assert by[('fid', '1-step')]['reference'] == 'tiny training set, 12 of 12 images'
    assert by[('is', '2-step')]['splits'] == 2
    assert [j['step'] for j in result['jobs']] == ['sample_features', 'sample_features', 'evaluate_fid']
    assert all(j['seconds'] > 0 and j['device'] == 'cpu' for j in result['jobs'])
    # the two shards' merged statistics are those of the 20 samples drawn in one pass (up to float32
    # differences of the network between batch compositions)
    mu_ref, sigma_ref, _ = load_statistics(setup['ref'])
    direct = _direct_statistics(setup)
    for (mu, sigma, mu2, sigma2), sampler in zip(fid_spy, ('1-step', '2-step')):
        np.testing.assert_allclose(mu, direct[sampler][0], rtol=NETWORK_RTOL, atol=1e-6)
        np.testing.assert_allclose(sigma, direct[sampler][1], rtol=NETWORK_RTOL, atol=1e-6)
        np.testing.assert_array_equal(mu2, mu_ref)
        np.testing.assert_array_equal(sigma2, sigma_ref)
        score, std = direct[sampler][2]
        assert by[('is', sampler)]['value'] == pytest.approx(score, rel=NETWORK_RTOL)
        # the std over splits is a difference of split scores: its error is absolute, that of the scores
        assert by[('is', sampler)]['std'] == pytest.approx(std, abs=NETWORK_RTOL * score)
    # a shard missing: refused
    assert cli.main(['evaluate-fid', *setup['run_args'], '--features', shards[0], '--reference', str(setup['ref']),
                     '--out', str(tmp_path / 'bad.json')]) == 1


def _one_error_line(capsys, command):
    err = [line for line in capsys.readouterr().err.splitlines() if line.strip()]
    assert len(err) == 1 and 'Traceback' not in err[0] and err[0].startswith(f'act-bench {command}: error: '), err
    return err[0]


def _evaluate_fid(setup, shards, out, run_args=None):
    return cli.main(['evaluate-fid', *(run_args or setup['run_args']), '--features', *map(str, shards),
                     '--reference', str(setup['ref']), '--out', str(out)])


def _with_config(setup, tmp_path, **evaluation):
    """The run's CLI options with a copy of the config whose `evaluation` is updated."""
    config = copy.deepcopy(setup['config_dict'])
    config['evaluation'].update(evaluation)
    (tmp_path / 'edited.yaml').write_text(yaml.safe_dump(config))
    return [str(tmp_path / 'edited.yaml') if a == str(setup['config']) else a for a in setup['run_args']]


def test_a_truncated_feature_shard_is_one_sentence(setup, tmp_path, capsys):
    shards = [setup['run'] / 'fid' / f'shard{i}.npz' for i in (0, 1)]
    truncated = tmp_path / 'shard1.npz'
    truncated.write_bytes(shards[1].read_bytes()[:shards[1].stat().st_size // 2])
    assert _evaluate_fid(setup, [shards[0], truncated], tmp_path / 'm.json') == 1
    line = _one_error_line(capsys, 'evaluate-fid')
    assert f'{truncated} is truncated or damaged (not a readable feature shard)' in line
    assert '--forcerun sample_features' in line and str(shards[0]) not in line


def test_a_feature_shard_of_another_run_is_refused(setup, tmp_path, capsys):
    shards = [setup['run'] / 'fid' / f'shard{i}.npz' for i in (0, 1)]
    with np.load(shards[1]) as f:
        arrays = dict(f)
    meta = json.loads(str(arrays['meta']))
    meta['artifact_of'] = {**meta['artifact_of'], 'run': meta['artifact_of']['run'].replace('seed0', 'seed1')}
    foreign = tmp_path / 'shard1.npz'
    np.savez(foreign, **{**arrays, 'meta': np.array(json.dumps(meta))})
    assert _evaluate_fid(setup, [shards[0], foreign], tmp_path / 'm.json') == 1
    line = _one_error_line(capsys, 'evaluate-fid')
    assert f'{foreign} was written for run {meta["artifact_of"]["run"]} (train digest ' in line
    assert '/seed0 (train digest ' in line and '--forcerun sample_features' in line


def test_shards_of_another_evaluated_network_are_refused_but_final_pt_is_not(setup, tmp_path, capsys):
    """evaluation.network is an evaluation setting: the same final.pt samples the target network, while the
    shards drawn from the EMA (the same train digest, another evaluation digest) are refused."""
    target = _with_config(setup, tmp_path, network='target')
    shards = [setup['run'] / 'fid' / f'shard{i}.npz' for i in (0, 1)]
    assert _evaluate_fid(setup, shards, tmp_path / 'm.json', target) == 1
    line = _one_error_line(capsys, 'evaluate-fid')
    digests = re.findall(r'\(train digest ([0-9a-f]{12}), evaluation digest ([0-9a-f]{12})\)', line)
    assert line.startswith(f'act-bench evaluate-fid: error: {shards[0]} was written for run ') and len(digests) == 2
    assert digests[0][0] == digests[1][0] and digests[0][1] != digests[1][1], line
    out = tmp_path / 'shard0.npz'
    assert cli.main(['sample-features', *target, '--final', str(setup['run'] / 'final.pt'), '--shard', '0',
                     '--out', str(out)]) == 0
    with np.load(out) as f:
        meta = json.loads(str(f['meta']))
    assert meta['network'] == 'target' and meta['artifact_of']['evaluation_digest'] == digests[1][1]


def test_inception_records_api_and_the_floor(setup, tmp_path, fid_spy):
    """The function for snapshots: records of an image array; and the data floor command."""
    from act_bench.config import load_config
    from act_bench.evaluation.fid import load_statistics
    config = load_config(setup['config'])
    images = np.random.default_rng(3).uniform(-1, 1, (10, 3, 8, 8)).astype(np.float32)
    recs = inception_records(config, 'tiny', images, setup['ref'], sampler='snapshot 100')
    assert [r['metric'] for r in recs] == ['fid', 'is'] and recs[0]['sampler'] == 'snapshot 100'
    assert recs[0]['n_generated'] == 10 and recs[1]['splits'] == 2 and recs[0]['mode'] == 'legacy_tensorflow'
    out = tmp_path / 'floor.json'
    assert cli.main(['reference-fid', '--config', str(setup['config']), '--dataset', 'tiny',
                     '--reference', str(setup['ref']), '--out', str(out)]) == 0
    floor = json.loads(out.read_text())
    assert floor['dataset'] == 'tiny' and [r['metric'] for r in floor['records']] == ['fid', 'is']
    assert floor['records'][0]['sampler'] == 'training data' and floor['records'][0]['n_generated'] == 12
    assert floor['records'][0]['network'] is None
    # all 12 training images against their own statistics: the FID's arguments agree, so FID = 0
    mu_ref, sigma_ref, _ = load_statistics(setup['ref'])
    np.testing.assert_allclose(fid_spy[-1][0], mu_ref, rtol=1e-12)
    np.testing.assert_allclose(fid_spy[-1][1], sigma_ref, rtol=1e-9, atol=1e-14)
    with pytest.raises(Exception, match='bundled'):
        inception_records({**config, 'datasets': {'toy': {'kind': 'toy2d'}}}, 'toy', images, setup['ref'])


def test_missing_files_stop_with_one_sentence(setup, tmp_path, capsys):
    bad = copy.deepcopy(setup['config_dict'])
    bad['evaluation']['fid']['inception_weights'] = str(tmp_path / 'nowhere')
    bad['datasets']['tiny']['fid_reference'] = str(tmp_path / 'VIRTUAL_tiny.npz')
    (tmp_path / 'bad.yaml').write_text(yaml.safe_dump(bad))
    run = [a if a != str(setup['config']) else str(tmp_path / 'bad.yaml') for a in setup['run_args']]
    assert cli.main(['sample-features', *run, '--final', str(setup['run'] / 'final.pt'), '--shard', '0',
                     '--out', str(tmp_path / 's.npz')]) == 1
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and WEIGHTS_FILE in err and str(tmp_path / 'nowhere') in err
    assert cli.main(['fid-reference', '--config', str(tmp_path / 'bad.yaml'), '--dataset', 'tiny',
                     '--mode', 'legacy_tensorflow', '--out', str(tmp_path / 'r.npz')]) == 1
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and 'VIRTUAL_tiny.npz' in err and 'fid_reference' in err
    # an imported reference batch (mu/sigma, no meta) is TF-Inception statistics: refused for mode clean
    np.savez(tmp_path / 'VIRTUAL_tiny.npz', mu=np.zeros(2048), sigma=np.eye(2048))
    bad['evaluation']['fid']['mode'] = 'clean'
    (tmp_path / 'bad.yaml').write_text(yaml.safe_dump(bad))
    assert cli.main(['fid-reference', '--config', str(tmp_path / 'bad.yaml'), '--dataset', 'tiny',
                     '--mode', 'clean', '--out', str(tmp_path / 'r.npz')]) == 1
    assert 'modes must not be mixed' in capsys.readouterr().err


@pytest.mark.heavy
def test_image_dataset_through_the_snakemake_dag(setup, tmp_path):
    """The tiny image_folder config end to end through Snakemake with the real Fréchet distance: reference
    statistics, two sampling shards, evaluate_fid, the floor, summary.csv with FID/IS and GPU-hours columns."""
    import subprocess
    import sys

    import pandas as pd

    from conftest import REPO
    config = copy.deepcopy(setup['config_dict'])
    (tmp_path / 'tiny.yaml').write_text(yaml.safe_dump(config))
    result = subprocess.run([sys.executable, '-m', 'snakemake', '--snakefile', str(REPO / 'Snakefile'), '--cores', '2',
                             '--config', f'config={tmp_path / "tiny.yaml"}', '--directory', str(tmp_path),
                             '--show-failed-logs'], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout[-5000:] + result.stderr[-5000:]
    results = tmp_path / 'results' / 'fid-unit'
    run = results / 'runs' / 'tiny' / 'ct' / 'batch4' / 'tiny' / 'aug-off' / 'seed0'
    assert sorted(p.name for p in (run / 'fid').glob('*.npz')) == ['shard0.npz', 'shard1.npz']
    assert not (run / 'samples.npz').exists()  # no images are kept, only statistics
    assert (results / 'reference' / 'tiny_inception_legacy_tensorflow.npz').is_file()
    metrics = json.loads((run / 'metrics.json').read_text())['records']
    expected = {(m, s) for m in ('fid', 'is') for s in ('1-step', '2-step')}
    assert {(r['metric'], r['sampler']) for r in metrics} == expected
    assert all(r['n_generated'] == 20 and r['mode'] == 'legacy_tensorflow' for r in metrics)
    assert 'samples 0..9 + Inception (legacy_tensorflow)' in (run / 'fid' / 'shard0.log').read_text()  # tqdm
    floor = json.loads((results / 'reference' / 'tiny.json').read_text())['records']
    assert floor[0]['metric'] == 'fid' and floor[0]['value'] == pytest.approx(0, abs=1e-3)
    summary = pd.read_csv(results / 'summary.csv')
    assert summary['primary_metric'].tolist() == ['fid_1step']
    for col in ('fid_1step', 'fid_2step', 'is_1step', 'is_2step', 'gpu_hours', 'gpu_hours_eval'):
        assert math.isfinite(summary[col].iloc[0]) and summary[col].iloc[0] >= 0
    assert math.isnan(summary['sacct_gpu_hours'].iloc[0]) and summary['device_name'].iloc[0] == 'cpu'
    with np.load(run / 'fid' / 'shard0.npz') as f:   # a few one-step images for the report's sample grid
        assert f['grid_1step'].ndim == 4 and len(f['grid_1step']) >= 1
    assert (tmp_path / 'reports' / 'fid-unit' / 'tiny' / 'samples.png').is_file()
