"""Inception FID / IS through clean-fid with the small TorchScript stand-in for inception-2015-12-05.pt
(conftest.StandInInception). No test downloads."""


import numpy as np
import pytest
import scipy.linalg
import torch
from PIL import Image

from act_bench.evaluation import fid
from act_bench.evaluation.fid import (WEIGHTS_FILE, InceptionFeatures, InceptionWeightsMissing, feature_statistics,
                                     inception_score, load_statistics, quantize, save_statistics)
from act_bench.evaluation.bundled_metrics import FrechetDistance
from act_bench.evaluation.frechet import frechet_distance
from conftest import write_stand_in_inception

# the stand-in is written with torch.jit.script/save, which torch 2.14 deprecates (clean-fid's file is TorchScript)
pytestmark = [pytest.mark.filterwarnings('ignore:`torch.jit.:FutureWarning'), pytest.mark.usefixtures('no_downloads')]


@pytest.fixture(scope='module')
def weights_dir(tmp_path_factory):
    torch.manual_seed(0)
    folder = tmp_path_factory.mktemp('inception')
    write_stand_in_inception(folder)
    return folder


def _images(n=6, size=16, seed=0):
    return np.random.default_rng(seed).uniform(-1, 1, (n, 3, size, size)).astype(np.float32)


def test_weights_url_is_clean_fids():
    from cleanfid.downloads_helper import inception_url
    assert fid.WEIGHTS_URL == inception_url


def test_missing_weights_raise_before_anything_is_built(tmp_path, monkeypatch):
    import cleanfid.inception_torchscript as ts

    def never(*args, **kwargs):
        raise AssertionError('something was built or loaded')
    monkeypatch.setattr(ts.InceptionV3W, '__init__', never)
    monkeypatch.setattr(torch.jit, 'load', never)
    for mode in fid.MODES:
        with pytest.raises(InceptionWeightsMissing) as e:
            InceptionFeatures(tmp_path, mode=mode)
        message = str(e.value)
        assert WEIGHTS_FILE in message and str(tmp_path) in message and fid.WEIGHTS_URL in message
        assert '\n' not in message and isinstance(e.value, FileNotFoundError)
    assert list(tmp_path.iterdir()) == []  # nothing written (no partial download)


def test_unknown_mode_is_refused(weights_dir):
    with pytest.raises(ValueError, match='legacy_tensorflow'):
        InceptionFeatures(weights_dir, mode='legacy_pytorch')


@pytest.mark.parametrize('mode', fid.MODES)
def test_features_through_the_real_code_path(weights_dir, mode):
    extractor = InceptionFeatures(weights_dir, mode=mode, batch_size=4)
    assert extractor.name == f'inception-v3 (clean-fid {mode})' and extractor.source.endswith(WEIGHTS_FILE)
    images = _images(6)
    f = extractor(images)
    assert f.shape == (6, 2048) and f.dtype == np.float64 and np.isfinite(f).all()
    assert (f[:, 3:5] == 299).all()  # the network's layers always see 299×299
    assert len(np.unique(f[:, 10])) == 6  # different images, different features
    # a constant image survives both resizes: channel means are the quantised value, normalised
    values = [-1.0, -0.3, 0.2, 254.9 / 255 * 2 - 1, 1.0]
    constant = np.stack([np.full((3, 9, 13), v, np.float32) for v in values])
    levels = np.floor((np.array(values, np.float32) + 1) / 2 * 255)
    np.testing.assert_allclose(extractor(constant)[:, :3], ((levels - 128) / 128)[:, None].repeat(3, 1), atol=1e-5)
    # the metric interface of act_bench.evaluation.bundled_metrics
    assert FrechetDistance('fid', extractor).feature_extractor.startswith(extractor.name)


@pytest.mark.parametrize('mode', fid.MODES)
def test_features_match_clean_fids_own_folder_pipeline(weights_dir, tmp_path, mode):
    """Quantised images written as PNGs and read back by clean-fid's `get_folder_features` give our features."""
    from cleanfid.fid import get_folder_features
    from cleanfid.inception_torchscript import InceptionV3W
    images = _images(5, size=20, seed=1)
    for i, img in enumerate(quantize(images).numpy()):
        Image.fromarray(img.transpose(1, 2, 0)).save(tmp_path / f'{i:03d}.png')
    model = InceptionV3W(str(weights_dir), download=False, resize_inside=(mode == 'legacy_tensorflow')).eval()
    theirs = get_folder_features(str(tmp_path), model, num_workers=0, batch_size=2, device=torch.device('cpu'),
                                 mode=mode, verbose=False)
    ours = InceptionFeatures(weights_dir, mode=mode, batch_size=3)(images)
    # legacy_tensorflow: clean-fid's ToTensor()*255 is within float32 rounding of the integers we pass
    np.testing.assert_allclose(ours, theirs, atol=1e-4)


def test_input_layouts_agree(weights_dir):
    extractor = InceptionFeatures(weights_dir, mode='clean')
    images = _images(3)
    u8 = quantize(images)
    f = extractor(images)
    np.testing.assert_array_equal(extractor(u8.numpy()), f)
    np.testing.assert_array_equal(extractor(u8.permute(0, 2, 3, 1).numpy()), f)  # uint8 HWC
    np.testing.assert_array_equal(extractor(torch.as_tensor(images)), f)
    gray = images[:, :1]
    np.testing.assert_array_equal(extractor(gray), extractor(np.repeat(gray, 3, 1)))
    with pytest.raises(ValueError, match='not finite'):
        extractor(np.full((1, 3, 8, 8), np.nan, np.float32))


def test_logits_are_the_networks_unbiased_is_head(weights_dir):
    extractor = InceptionFeatures(weights_dir, mode='legacy_tensorflow')
    images = _images(4)
    features, logits = extractor.features_and_logits(images)
    assert logits.shape == (4, 1008) and np.isfinite(logits).all()
    np.testing.assert_allclose(extractor.logits(images), logits)
    np.testing.assert_allclose(features, extractor(images))
    # the TorchScript forward's own IS output: softmax of the head without bias
    network = torch.jit.load(str(weights_dir / WEIGHTS_FILE))
    with torch.no_grad():
        probs = network(quantize(images).float(), no_output_bias=True).double().numpy()
    np.testing.assert_allclose(torch.softmax(torch.as_tensor(logits), 1).numpy(), probs, atol=1e-6)
    mean, std = inception_score(logits, splits=2)
    assert mean >= 1 and np.isfinite(std)


def test_progress_bar(weights_dir, capsys):
    InceptionFeatures(weights_dir, mode='legacy_tensorflow', batch_size=2, progress=True)(_images(4))
    assert 'Inception (legacy_tensorflow)' in capsys.readouterr().err


def _closed_form(m1, d1, m2, d2):
    """FD of N(m1, Q diag(d1) Qᵀ) and N(m2, Q diag(d2) Qᵀ): the covariances commute."""
    return float(((m1 - m2) ** 2).sum() + (d1 + d2 - 2 * np.sqrt(d1 * d2)).sum())


def test_frechet_distance_closed_form_and_scipy():
    rng = np.random.default_rng(0)
    q, _ = np.linalg.qr(rng.standard_normal((5, 5)))
    m1, m2 = rng.standard_normal(5), rng.standard_normal(5)
    d1, d2 = rng.uniform(0.5, 2, 5), rng.uniform(0.1, 3, 5)
    s1, s2 = q @ np.diag(d1) @ q.T, q @ np.diag(d2) @ q.T
    assert frechet_distance(m1, s1, m2, s2) == pytest.approx(_closed_form(m1, d1, m2, d2), rel=1e-8)
    assert frechet_distance(m1, s1, m1, s1) == pytest.approx(0, abs=1e-8)
    # non-commuting covariances: the direct scipy formula
    a, b = rng.standard_normal((5, 5)), rng.standard_normal((5, 5))
    s3, s4 = a @ a.T + np.eye(5), b @ b.T + np.eye(5)
    direct = ((m1 - m2) ** 2).sum() + np.trace(s3 + s4 - 2 * scipy.linalg.sqrtm(s3 @ s4).real)
    assert frechet_distance(m1, s3, m2, s4) == pytest.approx(direct, rel=1e-8)


def test_feature_statistics_recover_a_known_distance():
    rng = np.random.default_rng(1)
    q, _ = np.linalg.qr(rng.standard_normal((4, 4)))
    m1, m2 = np.zeros(4), np.array([1.0, 0.0, -0.5, 0.0])
    d1, d2 = np.array([1.0, 2, 0.5, 1]), np.array([4.0, 1, 1, 0.25])
    n = 40_000
    x1 = m1 + (rng.standard_normal((n, 4)) * np.sqrt(d1)) @ q.T
    x2 = m2 + (rng.standard_normal((n, 4)) * np.sqrt(d2)) @ q.T
    mu1, s1 = feature_statistics(x1)
    mu2, s2 = feature_statistics(x2)
    assert mu1.dtype == s1.dtype == np.float64 and s1.shape == (4, 4)
    np.testing.assert_allclose(s1, q @ np.diag(d1) @ q.T, atol=0.05)
    assert frechet_distance(mu1, s1, mu2, s2) == pytest.approx(_closed_form(m1, d1, m2, d2), rel=0.03)
    with pytest.raises(ValueError):
        feature_statistics(np.zeros((1, 4)))


def test_statistics_round_trip(tmp_path):
    rng = np.random.default_rng(2)
    mu, a = rng.standard_normal(6), rng.standard_normal((6, 6))
    sigma = a @ a.T
    path = tmp_path / 'sub' / 'cifar10.stats'  # no .npz suffix: written exactly there
    save_statistics(path, mu.astype(np.float32), sigma, mode='legacy_tensorflow', n=50000, dataset='cifar10')
    mu2, sigma2, meta = load_statistics(path)
    assert path.exists() and mu2.dtype == sigma2.dtype == np.float64
    np.testing.assert_allclose(mu2, mu.astype(np.float32))
    np.testing.assert_array_equal(sigma2, sigma)
    assert meta == {'mode': 'legacy_tensorflow', 'n': 50000, 'dataset': 'cifar10'}
    # guided-diffusion reference batches: images plus mu/sigma (and the sFID ones), no meta
    np.savez(tmp_path / 'VIRTUAL_imagenet64_labeled.npz', arr_0=np.zeros((2, 4, 4, 3), np.uint8), mu=mu,
             sigma=sigma, mu_s=mu[:3], sigma_s=sigma[:3, :3])
    mu3, sigma3, meta3 = load_statistics(tmp_path / 'VIRTUAL_imagenet64_labeled.npz')
    np.testing.assert_array_equal(mu3, mu)
    np.testing.assert_array_equal(sigma3, sigma)
    assert meta3 == {}
    np.savez(tmp_path / 'feats.npz', feats=np.zeros((3, 2)))
    with pytest.raises(ValueError, match='mu'):
        load_statistics(tmp_path / 'feats.npz')


def test_inception_score_bounds():
    k, n = 8, 80
    uniform = np.full((n, k), 1 / k)
    assert inception_score(uniform) == pytest.approx((1.0, 0.0), abs=1e-12)
    assert inception_score(np.zeros((n, k)))[0] == pytest.approx(1.0)  # uniform logits
    confident = np.eye(k)[np.arange(n) % k]  # each split holds every class equally often
    assert inception_score(confident) == pytest.approx((k, 0.0), abs=1e-9)
    assert inception_score(50.0 * confident, from_logits=True)[0] == pytest.approx(k, rel=1e-6)
    mean, std = inception_score(np.random.default_rng(0).standard_normal((n, k)), splits=4)
    assert 1 < mean < k and std > 0
    with pytest.raises(ValueError):
        inception_score(uniform[:5], splits=10)


def test_quantize_truncates_and_clips():
    x = torch.tensor([-2.0, -1.0, 254.9 / 255 * 2 - 1, 0.999 / 255 * 2 - 1, 1.0, 1.5])
    assert quantize(x).tolist() == [0, 0, 254, 0, 255, 255]
    assert quantize(x.numpy()).dtype == torch.uint8
    u8 = torch.arange(5, dtype=torch.uint8)
    assert quantize(u8) is u8
    with pytest.raises(ValueError):
        quantize(torch.tensor([float('nan')]))
