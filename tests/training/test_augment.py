import pytest
import torch

from act_bench.training.augment import AdaptiveAugmentController, Augment


def test_p_rises_above_threshold_and_falls_below():
    c = AdaptiveAugmentController(threshold=1.0, images_per_iteration=160, r1_interval=16, ada_length=500_000)
    assert c.p == 0 and c.r1_ema == 1.0
    assert c.delta == pytest.approx(160 * 16 / 500_000)
    for _ in range(10):
        c.update(5.0)
    assert c.r1_ema > 1.0 and c.p == pytest.approx(10 * c.delta)
    while c.r1_ema > 1.0:  # p keeps rising while the EMA is above the threshold
        before = c.p
        c.update(0.0)
        assert c.p > before or c.r1_ema <= 1.0
    before = c.p
    c.update(0.0)  # below the threshold: p falls
    assert c.r1_ema < 1.0 and c.p == pytest.approx(before - c.delta)
    for _ in range(1000):
        c.update(0.0)
    assert c.p == 0.0  # clamped


def test_disabled_controller_tracks_r1_but_keeps_p_zero():
    c = AdaptiveAugmentController(threshold=1.0, images_per_iteration=8, r1_interval=1, enabled=False)
    c.update(100.0)
    assert c.p == 0.0 and c.r1_ema > 1.0


def test_augmentation_is_identity_at_p0_and_changes_images_at_p1():
    x = torch.randn(16, 3, 16, 16)
    aug = Augment()
    assert aug(x, 0.0) is x
    y = aug(x, 1.0)
    assert y.shape == x.shape
    assert (y - x).flatten(1).abs().amax(1).min() > 0  # every sample changed


def test_flip_and_integer_translation_are_exact_permutations():
    aug = Augment(brightness_std=0, contrast_std=0, saturation_std=0)
    x = torch.arange(2 * 8 * 8, dtype=torch.float32).reshape(2, 1, 8, 8)
    y = aug(x, 1.0)
    # geometry only moves pixels: the multiset of values is a subset of the input's (reflect padding)
    assert set(y.flatten().tolist()) <= set(x.flatten().tolist())


def test_augmentation_supports_double_backward():
    x = torch.randn(4, 3, 8, 8, requires_grad=True)
    y = Augment()(x, 1.0)
    grad, = torch.autograd.grad(y.square().sum(), x, create_graph=True)
    grad.square().sum().backward()
    assert x.grad is not None and torch.isfinite(x.grad).all()
