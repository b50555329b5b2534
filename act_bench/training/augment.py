"""ACT-Aug: a differentiable augmentation with probability p, and its R1-driven controller.

The augmentation applies, per sample and each with probability p, an x-flip, an integer
translation (reflect padding, up to 1/8 of the size) and colour transforms (brightness,
contrast, and saturation for RGB). Every op is indexing or arithmetic, so gradients (and the
second-order gradients R1 needs) flow through it. At p = 0 images pass through untouched,
unlike the official code, which always resamples.
"""

import math

import torch

from act_bench.runtime.distributed import rows


def _reflect(index, size):
    index = index.abs()
    return (size - 1) - ((size - 1) - index).abs()


def _translate(x, shift_y, shift_x):
    B, C, H, W = x.shape
    rows = _reflect(torch.arange(H, device=x.device)[None] - shift_y[:, None], H)
    cols = _reflect(torch.arange(W, device=x.device)[None] - shift_x[:, None], W)
    b = torch.arange(B, device=x.device)[:, None, None, None]
    c = torch.arange(C, device=x.device)[None, :, None, None]
    return x[b, c, rows[:, None, :, None], cols[:, None, None, :]]


class Augment:
    """Differentiable augmentation of a [B, C, H, W] batch in [-1, 1] with probability p."""

    def __init__(self, max_translate=0.125, brightness_std=0.2, contrast_std=0.5, saturation_std=1.0):
        self.max_translate = max_translate
        self.brightness_std = brightness_std
        self.contrast_std = contrast_std
        self.saturation_std = saturation_std

    def __call__(self, x, p):
        if p <= 0 or x.ndim != 4:
            return x
        B, C, H, W = x.shape
        dev = x.device

        def uniform():   # per-sample draws of the global batch (distributed.rows)
            return rows(lambda m: torch.rand(m, device=dev), B)

        def normal():
            return rows(lambda m: torch.randn(m, device=dev), B)

        def chosen():
            return uniform() < p

        flip = chosen()
        x = torch.where(flip[:, None, None, None], x.flip(3), x)
        moved = chosen()
        ty = torch.round((uniform() * 2 - 1) * self.max_translate * H).long() * moved
        tx = torch.round((uniform() * 2 - 1) * self.max_translate * W).long() * moved
        x = _translate(x, ty, tx)
        shape = (B, 1, 1, 1)
        brightness = normal() * self.brightness_std * chosen()
        x = x + brightness.view(shape)
        contrast = torch.exp2(normal() * self.contrast_std * chosen())
        mean = x.mean(dim=(1, 2, 3), keepdim=True)
        x = (x - mean) * contrast.view(shape) + mean
        if C == 3:
            saturation = torch.exp2(normal() * self.saturation_std * chosen())
            luma = x.mean(dim=1, keepdim=True)
            x = (x - luma) * saturation.view(shape) + luma
        return x


class AdaptiveAugmentController:
    """p driven by an EMA of R1 against a threshold (act-spec §5.1).

    r1_ema starts at the threshold; on every R1 evaluation r1_ema ← decay·r1_ema + (1−decay)·R1,
    then p moves by ±Δ (up if r1_ema > threshold) and is clamped to [0, 1], with
    Δ = images_per_iteration · r1_interval / ada_length.
    """

    def __init__(self, threshold, images_per_iteration, r1_interval, ada_length=500_000,
                 decay=0.93, enabled=True):
        self.threshold = float(threshold)
        self.delta = images_per_iteration * r1_interval / ada_length
        self.decay = decay
        self.enabled = enabled
        self.p = 0.0
        self.r1_ema = float(threshold)

    def update(self, r1):
        if not math.isfinite(r1):
            return
        self.r1_ema = self.decay * self.r1_ema + (1 - self.decay) * r1
        if self.enabled:
            step = self.delta if self.r1_ema > self.threshold else -self.delta
            self.p = min(max(self.p + step, 0.0), 1.0)

    def state_dict(self):
        return {'p': self.p, 'r1_ema': self.r1_ema}

    def load_state_dict(self, state):
        self.p = float(state['p'])
        self.r1_ema = float(state['r1_ema'])
