"""The Fréchet distance between two Gaussians (FID, fd_digits) from symmetric eigendecompositions."""

import numpy as np


def frechet_distance(mu1, sigma1, mu2, sigma2):
    """‖mu1 − mu2‖² + tr Σ1 + tr Σ2 − 2 tr √(Σ1 Σ2) of N(mu1, Σ1) and N(mu2, Σ2), in float64.

    The value clean-fid's `frechet_distance` computes with `scipy.linalg.sqrtm`, without a general matrix
    square root: Σ1 Σ2 = Σ1^½ (Σ1^½ Σ2) has the eigenvalues of (Σ1^½ Σ2) Σ1^½ = Σ1^½ Σ2 Σ1^½ (AB and BA
    share them, also for singular Σ1), a symmetric PSD matrix, so they are real and ≥ 0 and tr √(Σ1 Σ2)
    is the sum of their square roots. With Σ1 = V diag(w) Vᵀ (`eigh`), B = V diag(√w) gives
    Bᵀ Σ2 B = Vᵀ (Σ1^½ Σ2 Σ1^½) V, the same eigenvalues. Negative eigenvalues of PSD matrices, which are
    rounding, are clipped at 0."""
    mu1, mu2 = np.asarray(mu1, np.float64), np.asarray(mu2, np.float64)
    sigma1, sigma2 = np.asarray(sigma1, np.float64), np.asarray(sigma2, np.float64)
    w, v = np.linalg.eigh(sigma1)
    b = v * np.sqrt(w.clip(min=0))
    tr_covmean = np.sqrt(np.linalg.eigvalsh(b.T @ sigma2 @ b).clip(min=0)).sum()
    diff = mu1 - mu2
    return float(diff @ diff + np.trace(sigma1) + np.trace(sigma2) - 2 * tr_covmean)
