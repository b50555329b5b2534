import numpy as np
import pytest
import scipy.linalg
import torch

from act_bench.evaluation.digits_classifier import ClassifierFeatures, DigitsClassifier, save_classifier
from act_bench.evaluation.bundled_metrics import ExactW2, FrechetDistance, SlicedW2, evaluate


def test_exact_w2_of_identical_and_shifted_sets():
    rng = np.random.default_rng(0)
    a = rng.standard_normal((300, 2))
    assert ExactW2()(a, a) == pytest.approx(0, abs=1e-9)
    # a pure translation moves every point by the same vector: W2 = |shift|
    assert ExactW2()(a + [3.0, 4.0], a) == pytest.approx(5.0, rel=1e-6)
    assert 0 < SlicedW2()(a + [3.0, 4.0], a) < 5.0


def test_frechet_distance_matches_a_direct_computation(tmp_path):
    torch.manual_seed(0)
    model = DigitsClassifier(feature_dim=4)
    save_classifier(model, 0.5, tmp_path / 'clf.pt')
    features = ClassifierFeatures(tmp_path / 'clf.pt')
    rng = np.random.default_rng(0)
    gen = rng.uniform(-1, 1, (400, 1, 16, 16)).astype(np.float32)
    ref = rng.uniform(-1, 1, (300, 1, 16, 16)).astype(np.float32) * 0.5
    fd = FrechetDistance('fd_digits', features)(gen, ref)
    f1, f2 = features(gen), features(ref)
    mu1, mu2, s1, s2 = f1.mean(0), f2.mean(0), np.cov(f1, rowvar=False), np.cov(f2, rowvar=False)
    covmean = scipy.linalg.sqrtm(s1 @ s2).real
    direct = ((mu1 - mu2) ** 2).sum() + np.trace(s1) + np.trace(s2) - 2 * np.trace(covmean)
    assert fd == pytest.approx(direct, rel=1e-4)
    assert fd > 0


def test_frechet_distance_on_known_gaussians():
    """With an identity feature map, the distance between two Gaussians has a closed form."""
    class Identity:
        name, source = 'identity', 'test'

        def __call__(self, x):
            return np.asarray(x, np.float64)
    rng = np.random.default_rng(1)
    n = 200_000
    a = rng.standard_normal((n, 2))
    b = rng.standard_normal((n, 2)) * 2 + [1.0, 0.0]
    # |μ1−μ2|² + tr(I + 4I − 2·2I) = 1 + 2·(1 + 4 − 4) = 3
    assert FrechetDistance('fd', Identity())(a, b) == pytest.approx(3.0, rel=0.02)


def test_records_say_what_they_are():
    rng = np.random.default_rng(0)
    records = evaluate([ExactW2()], {'1-step': rng.standard_normal((50, 2))}, rng.standard_normal((40, 2)), 'ref')
    r = records[0]
    assert r['metric'] == 'w2' and r['sampler'] == '1-step' and r['n_generated'] == 50
    assert r['n_reference'] == 40 and r['reference'] == 'ref' and np.isfinite(r['value'])
