"""Our Fréchet distance (symmetric eigendecompositions) against clean-fid's sqrtm-based `frechet_distance`
on Inception-like statistics, against the exact value of sample covariances, and against closed forms."""

import inspect

import numpy as np
import pytest
import scipy.linalg

from act_bench.evaluation.frechet import frechet_distance


def _clean_fid(*stats):
    """clean-fid 0.1.35's value; it passes `scipy.linalg.sqrtm` the `disp` argument SciPy 1.18 removed."""
    if 'disp' not in inspect.signature(scipy.linalg.sqrtm).parameters:
        pytest.skip('clean-fid passes scipy.linalg.sqrtm a `disp` argument this SciPy no longer has')
    from cleanfid.fid import frechet_distance as clean_fid_distance
    return float(clean_fid_distance(*stats))


def _loadings(rng, dim):
    """dim/4 factors with a power-law spectrum, as the top of Inception pool3's covariance decays."""
    rank = dim // 4
    return rng.standard_normal((rank, dim)) * np.arange(1, rank + 1)[:, None] ** -0.7


def _features(rng, loadings, n, shift):
    """Non-negative (ReLU'd) correlated features: factors plus a little independent noise per feature."""
    x = rng.standard_normal((n, len(loadings))) @ loadings + 0.1 * rng.standard_normal((n, loadings.shape[1]))
    return np.maximum(x + 0.3 + shift, 0)


def _feature_pairs(dim, n):
    """Two feature sets: a near one (the same distribution, other samples) and a far one."""
    rng = np.random.default_rng(dim + n)
    loadings = _loadings(rng, dim)
    x = _features(rng, loadings, n, 0)
    return [(x, _features(rng, loadings, n, 0)), (x, _features(rng, loadings + _loadings(rng, dim), n, 0.1))]


def _statistics(x):
    return x.mean(0), np.cov(x, rowvar=False)


def _exact(x1, x2):
    """The distance of the sample statistics without forming Σ1Σ2: Σ1 = AᵀA, Σ2 = BᵀB with A, B the centred
    data over √(n−1) (n × d), so Σ1Σ2 shares its nonzero eigenvalues with (ABᵀ)(ABᵀ)ᵀ and tr √(Σ1Σ2) is
    the sum of the singular values of ABᵀ = Q_A (R_A R_Bᵀ) Q_Bᵀ, those of R_A R_Bᵀ (QR of A and B)."""
    (m1, s1), (m2, s2) = _statistics(x1), _statistics(x2)
    r1, r2 = (np.linalg.qr((x - m) / np.sqrt(len(x) - 1), mode='r') for x, m in ((x1, m1), (x2, m2)))
    nuclear = np.linalg.svd(r1 @ r2.T, compute_uv=False).sum()
    return float((m1 - m2) @ (m1 - m2) + np.trace(s1) + np.trace(s2) - 2 * nuclear)


# n > dim: full-rank covariances, as from 50k Inception features; n < dim: rank n − 1 (singular Σ1 Σ2).
# There sqrtm itself is off: clean-fid was 5.1e-6 from the exact value at 2048-d, n = 1000 (ours 1.3e-7), so
# clean-fid is held to 1e-5 there and ours to 1e-6 of the exact value in every case.
# The 2048-d comparison spends 20–70 s in clean-fid's sqrtm on 2 cores, so it is heavy; 256-d runs by default.
@pytest.mark.filterwarnings('ignore:The `disp` argument is deprecated:DeprecationWarning')
@pytest.mark.parametrize('dim, n, clean_fid_rel', [(256, 1000, 1e-6), (256, 200, 1e-5),
                                                   pytest.param(2048, 3000, 1e-6, marks=pytest.mark.heavy),
                                                   pytest.param(2048, 1000, 1e-5, marks=pytest.mark.heavy)])
def test_equals_clean_fid_on_inception_like_statistics(dim, n, clean_fid_rel):
    for x1, x2 in _feature_pairs(dim, n):
        stats = (*_statistics(x1), *_statistics(x2))
        assert frechet_distance(*stats) == pytest.approx(_exact(x1, x2), rel=1e-6)
        assert frechet_distance(*stats) == pytest.approx(_clean_fid(*stats), rel=clean_fid_rel)


def test_one_dimension_and_scaled_covariances():
    assert frechet_distance([1.0], [[4.0]], [-1.0], [[9.0]]) == pytest.approx(4 + (2 - 3) ** 2, rel=1e-12)
    rng = np.random.default_rng(0)
    a = rng.standard_normal((6, 6))
    sigma, mu1, mu2 = a @ a.T, rng.standard_normal(6), rng.standard_normal(6)
    # Σ2 = c²Σ1: tr √(Σ1Σ2) = c tr Σ1, so the trace terms are (1 − c)² tr Σ1
    expected = ((mu1 - mu2) ** 2).sum() + (1 - 3) ** 2 * np.trace(sigma)
    assert frechet_distance(mu1, sigma, mu2, 9 * sigma) == pytest.approx(expected, rel=1e-10)


def test_non_commuting_two_dimensional_closed_form():
    """For 2×2 M with eigenvalues λ1, λ2 ≥ 0, (tr √M)² = tr M + 2 √det M."""
    rng = np.random.default_rng(1)
    a, b = rng.standard_normal((2, 2)), rng.standard_normal((2, 2))
    s1, s2 = a @ a.T + 0.1 * np.eye(2), b @ b.T + 0.1 * np.eye(2)
    tr_sqrt = np.sqrt(np.trace(s1 @ s2) + 2 * np.sqrt(np.linalg.det(s1) * np.linalg.det(s2)))
    expected = np.trace(s1) + np.trace(s2) - 2 * tr_sqrt
    assert frechet_distance(np.zeros(2), s1, np.zeros(2), s2) == pytest.approx(expected, rel=1e-10)
    assert frechet_distance(np.zeros(2), s2, np.zeros(2), s1) == pytest.approx(expected, rel=1e-10)


def test_singular_covariances_give_zero_distance_to_themselves():
    """Rank-1 covariances have eigenvalues at ±rounding: they are clipped, never a NaN."""
    v = np.array([[1.0, 2.0, -3.0]])
    sigma = v.T @ v
    assert frechet_distance(np.ones(3), sigma, np.ones(3), sigma) == pytest.approx(0, abs=1e-10)
    assert frechet_distance(np.zeros(3), sigma, np.zeros(3), np.zeros((3, 3))) == pytest.approx(14, rel=1e-12)
