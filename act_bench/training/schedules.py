"""Noise grids and training curricula: Karras grid, N(k), μ(k), the evaluation EMA's β, and ACT's
adversarial weight λ(σ)."""

import math

import torch


def karras_sigmas(n, sigma_min=0.002, sigma_max=80.0, rho=7.0):
    """Ascending Karras grid with n points: σ_0 = σ_min, σ_{n-1} = σ_max (act-spec §2)."""
    i = torch.arange(n, dtype=torch.float64)
    lo, hi = sigma_min ** (1 / rho), sigma_max ** (1 / rho)
    return (lo + i / (n - 1) * (hi - lo)) ** rho


def sigma_to_index(sigma, n, sigma_min=0.002, sigma_max=80.0, rho=7.0):
    """Fractional index of σ on the n-point grid (inverse of `karras_sigmas`)."""
    lo, hi = sigma_min ** (1 / rho), sigma_max ** (1 / rho)
    return (sigma ** (1 / rho) - lo) / (hi - lo) * (n - 1)


def discretisation_steps(step, iterations, s0, s1, form='act'):
    """Number of grid points N at step k of K = `iterations`.

    'act': round(sqrt(k/K·(s1² − s0²) + s0²))  — official ACT code, ends at N = s1.
    'cm':  ceil(sqrt(k/K·((s1+1)² − s0²) + s0²) − 1) + 1 — official CM code, ends at N = s1 + 1.
    'ict': min(s0·2^⌊k/K′⌋, s1) + 1 with K′ = ⌊K / (log2⌊s1/s0⌋ + 1)⌋ — iCT's doubling curriculum
           (ct-spec §9), ends at N = s1 + 1; K′ is at least 1 for runs shorter than the number of stages.
    """
    progress = step / iterations
    if form == 'act':
        return int(round(math.sqrt(progress * (s1 ** 2 - s0 ** 2) + s0 ** 2)))
    if form == 'cm':
        m = max(1, math.ceil(math.sqrt(progress * ((s1 + 1) ** 2 - s0 ** 2) + s0 ** 2) - 1))
        return m + 1
    if form == 'ict':
        stage_length = max(1, math.floor(iterations / (math.log2(s1 // s0) + 1)))
        return min(s0 * 2 ** (step // stage_length), s1) + 1
    raise ValueError(f'unknown schedule form {form!r}; expected "act", "cm" or "ict"')


def target_ema_decay(n, s0, mu0):
    """μ = exp(s0·ln μ0 / (N − 1)), as both official codes compute it (ct-spec §4).
    μ0 = 0 gives the iCT teacher without EMA (μ = 0)."""
    if mu0 == 0:
        return 0.0
    return math.exp(s0 * math.log(mu0) / (n - 1))


def evaluation_ema_decay(batch, images_seen, halflife_images, rampup_ratio=None):
    """β of the evaluation EMA for one step of `batch` generator images, EDM's form (training_loop.py):
    β = 0.5^(batch / h) with h = halflife_images, or min(h, rampup_ratio·images_seen) with a ramp-up
    (images_seen before this step, so the first step copies the network)."""
    if rampup_ratio is not None:
        halflife_images = min(halflife_images, rampup_ratio * images_seen)
    return 0.5 ** (batch / max(halflife_images, 1e-8))


def adversarial_weight(index, n, lambda_adv, w_mid=None):
    """Per-sample λ of ACT (act-spec §3.2–3.3).

    Constant form (CIFAR10): λ = lambda_adv.
    Time-dependent form (ImageNet64/LSUN): λ = lambda_adv·u^γ with u = index/(N−1) and
    γ = ln(w_mid/lambda_adv)/ln 0.5, so λ(σ_max) = lambda_adv, λ(midpoint) = w_mid, λ(σ_min) = 0.
    """
    index = torch.as_tensor(index, dtype=torch.float32)
    if w_mid is None:
        return torch.full_like(index, float(lambda_adv))
    gamma = math.log(w_mid / lambda_adv) / math.log(0.5)
    return lambda_adv * (index / (n - 1)).clamp(0, 1) ** gamma
