import math

import pytest
import torch

from act_bench.training.schedules import (adversarial_weight, discretisation_steps, karras_sigmas, sigma_to_index,
                                 target_ema_decay)


def test_karras_grid_endpoints_and_values():
    grid = karras_sigmas(3)
    assert grid[0].item() == pytest.approx(0.002) and grid[-1].item() == pytest.approx(80.0)
    assert grid[1].item() == pytest.approx(2.515, abs=1e-3)  # ct-spec §3: N=3 → {80, 2.515, 0.002}
    g5 = karras_sigmas(5)
    assert g5.tolist()[1:4] == pytest.approx([0.170, 2.515, 17.53], rel=2e-3)
    assert torch.allclose(sigma_to_index(g5, 5), torch.arange(5, dtype=torch.float64))


@pytest.mark.parametrize('s1,expected', [(150, [2, 15, 47, 75, 106, 150]), (200, [2, 20, 63, 100, 141, 200])])
def test_act_schedule_matches_act_spec(s1, expected):
    steps = [0, 100, 1000, 2500, 5000, 10_000]   # progress 0, 0.01, 0.10, 0.25, 0.50, 1.0 of K = 10,000
    assert [discretisation_steps(k, 10_000, 2, s1, 'act') for k in steps] == expected


def test_target_ema_decay_act_spec_values():
    assert target_ema_decay(2, 2, 0.9) == pytest.approx(0.81)
    assert target_ema_decay(2, 2, 0.95) == pytest.approx(0.9025)
    assert target_ema_decay(150, 2, 0.9) == pytest.approx(0.998587, abs=1e-6)
    assert target_ema_decay(200, 2, 0.95) == pytest.approx(0.999485, abs=1e-6)
    assert target_ema_decay(150, 2, 0.95) == pytest.approx(0.999312, abs=1e-6)
    assert target_ema_decay(10, 2, 0.0) == 0.0  # iCT: no EMA teacher


@pytest.mark.parametrize('k,n,mu', [(0, 2, 0.81), (8_000, 16, 0.98605), (80_000, 48, 0.99553),
                                    (400_000, 107, 0.99801), (800_000, 151, 0.99860)])
def test_cm_schedule_matches_ct_spec_table(k, n, mu):
    N = discretisation_steps(k, 800_000, 2, 150, 'cm')
    assert N == n
    assert target_ema_decay(N, 2, 0.9) == pytest.approx(mu, abs=1e-5)


def test_time_dependent_lambda_at_max_mid_and_min():
    n = 200
    lam = adversarial_weight(torch.tensor([n - 1, (n - 1) / 2, 0]), n, lambda_adv=0.6, w_mid=0.2)
    assert lam.tolist() == pytest.approx([0.6, 0.2, 0.0], abs=1e-6)
    # act-spec §3.3 measured values for N = 200
    lam = adversarial_weight(torch.tensor([50, 100, 150]), n, 0.6, 0.2)
    assert lam.tolist() == pytest.approx([0.067, 0.20, 0.38], abs=0.006)
    gamma = math.log(0.2 / 0.6) / math.log(0.5)
    assert gamma == pytest.approx(math.log2(3))


def test_constant_lambda():
    assert adversarial_weight(torch.tensor([1, 5, 9]), 10, 0.3).tolist() == pytest.approx([0.3] * 3)


def _ict_formula(k, K, s0, s1):
    """iCT's N(k) = min(s0·2^⌊k/K′⌋, s1) + 1, K′ = ⌊K / (log2⌊s1/s0⌋ + 1)⌋ (ct-spec §9), written out."""
    k_prime = math.floor(K / (math.log2(math.floor(s1 / s0)) + 1))
    return min(s0 * 2 ** math.floor(k / k_prime), s1) + 1


@pytest.mark.parametrize('K,s0,s1', [(400_000, 10, 1280), (800_000, 10, 1280), (1000, 10, 1280), (300, 10, 150),
                                     (5000, 2, 150), (999, 3, 40)])
def test_ict_curriculum_matches_its_formula(K, s0, s1):
    for k in sorted({0, 1, K // 7, K // 3, K // 2, K - 1, K, *range(0, K + 1, max(1, K // 97))}):
        assert discretisation_steps(k, K, s0, s1, 'ict') == _ict_formula(k, K, s0, s1)


def test_ict_curriculum_stages_of_the_paper():
    """K = 400k: K′ = 50k and N = 11, 21, 41, …, 1281 in 8 stages (ct-spec §9)."""
    stages = [discretisation_steps(k, 400_000, 10, 1280, 'ict') for k in range(0, 400_001, 50_000)]
    assert stages == [11, 21, 41, 81, 161, 321, 641, 1281, 1281]
    assert discretisation_steps(49_999, 400_000, 10, 1280, 'ict') == 11
    # runs shorter than the 8 stages: K′ = 1, one doubling per step
    assert [discretisation_steps(k, 5, 10, 1280, 'ict') for k in range(6)] == [11, 21, 41, 81, 161, 321]
