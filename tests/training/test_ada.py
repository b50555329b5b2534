import pytest
import torch
import torch.nn.functional as F

from act_bench.training.ada import SYM6, ADAPipeline, apply_general, scale2d, translate2d

ALL_OFF = dict(xflip=0, rotate90=0, xint=0, scale=0, rotate=0, aniso=0, xfrac=0,
               brightness=0, contrast=0, lumaflip=0, hue=0, saturation=0)
TAPS = [t / sum(SYM6) for t in SYM6]


def only(**strengths):
    return ADAPipeline(**{**ALL_OFF, **strengths})


def images(n, c=3, h=16, w=16, seed=0):
    return torch.rand(n, c, h, w, generator=torch.Generator().manual_seed(seed)) * 2 - 1


def matches(y, candidates):
    """[N] index of the candidate ([K, N, ...]) each sample equals bitwise, -1 if none."""
    eq = (candidates == y[None]).flatten(2).all(2)  # [K, N]
    return torch.where(eq.any(0), eq.float().argmax(0), torch.full_like(eq[0], -1, dtype=torch.long))


def test_p0_returns_input_itself():
    x = images(4)
    assert ADAPipeline()(x, 0.0) is x
    assert ADAPipeline()(x, torch.tensor(0.0)) is x
    assert ADAPipeline()(x, 1e-12) is x  # nothing drawn: no resampling, no colour


@pytest.mark.parametrize('channels', [3, 1])
def test_p1_changes_every_sample(channels):
    torch.manual_seed(0)
    x = images(16, channels)
    y = ADAPipeline()(x, 1.0)
    assert y.shape == x.shape and y.dtype == x.dtype and torch.isfinite(y).all()
    assert (y - x).flatten(1).abs().amax(1).min() > 1e-3
    y64 = ADAPipeline()(x.double(), 1.0)
    assert y64.dtype == torch.float64 and torch.isfinite(y64).all()


def test_non_square_images_keep_their_shape():
    torch.manual_seed(0)
    x = images(4, 3, 12, 20)
    y = ADAPipeline()(x, 1.0)
    assert y.shape == x.shape and torch.isfinite(y).all()


def test_xflip_is_exact():
    torch.manual_seed(0)
    x = images(64)
    y = only(xflip=1)(x, 1.0)
    k = matches(y, torch.stack([x, x.flip(3)]))
    assert (k >= 0).all()  # bitwise equal to x or x.flip(3)
    assert 0 < k.sum() < 64  # ADA: a chosen flip draws i in {0, 1}


def test_rotate90_is_exact_and_uses_all_four_angles():
    torch.manual_seed(0)
    x = images(64)
    y = only(rotate90=1)(x, 1.0)
    k = matches(y, torch.stack([torch.rot90(x, k, dims=(2, 3)) for k in range(4)]))
    assert (k >= 0).all()  # tolerance 0: bitwise equal to torch.rot90(x, k)
    assert set(k.tolist()) == {0, 1, 2, 3}  # not only 0° / 270° as in the official code


def test_integer_translation_is_exact_with_reflect_border():
    torch.manual_seed(0)
    H = W = 16
    m = round(0.125 * H)
    x = images(64, h=H, w=W)
    y = only(xint=1)(x, 1.0)
    padded = F.pad(x, [m] * 4, mode='reflect')
    shifts = [(ty, tx) for ty in range(-m, m + 1) for tx in range(-m, m + 1)]
    candidates = torch.stack([padded[:, :, m - ty:m - ty + H, m - tx:m - tx + W] for ty, tx in shifts])
    k = matches(y, candidates)
    assert (k >= 0).all()
    assert len(set(k.tolist())) > 5


def test_blit_composition_is_a_dihedral_image():
    torch.manual_seed(0)
    x = images(32)
    y = only(xflip=1, rotate90=1)(x, 1.0)
    dihedral = [torch.rot90(x, k, dims=(2, 3)) for k in range(4)]
    dihedral += [torch.rot90(x.flip(3), k, dims=(2, 3)) for k in range(4)]
    assert (matches(y, torch.stack(dihedral)) >= 0).all()


def test_resampling_chain_identity_and_whole_pixel_shift():
    x = images(2)
    eye = torch.eye(3).repeat(2, 1, 1)
    assert (apply_general(x, eye, TAPS) - x).abs().max() < 1e-5
    yy, xx = torch.meshgrid(torch.arange(16.0), torch.arange(16.0), indexing='ij')
    blob = torch.exp(-((xx - 7) ** 2 + (yy - 9) ** 2) / 3)[None, None]  # ~0 at the border
    shifted = apply_general(blob, translate2d(-3.0, 0.0), TAPS)  # output(x) = input(x - 3)
    assert (shifted - torch.roll(blob, 3, dims=3)).abs().max() < 1e-2
    flipped = apply_general(blob, scale2d(-1.0, 1.0), TAPS)  # ADA's resampled flip: close, not exact
    assert (flipped - blob.flip(3)).abs().max() < 5e-2


def test_general_transforms_leave_undrawn_samples_untouched():
    torch.manual_seed(0)
    x = images(64)
    y = only(scale=1)(x, 0.5)
    same = (y == x).flatten(1).all(1)
    assert 10 < same.sum() < 54
    assert ((y - x)[~same].flatten(1).abs().amax(1) > 1e-3).all()


def test_hue_and_saturation_keep_gray_pixels():
    torch.manual_seed(0)
    x = images(16, 1).expand(16, 3, 16, 16)
    y = only(hue=1, saturation=1)(x, 1.0)
    assert (y - x).abs().max() < 1e-5


def test_double_backward_through_the_pipeline():
    torch.manual_seed(0)
    x = images(8).requires_grad_()
    conv = torch.nn.Conv2d(3, 4, 3)
    y = ADAPipeline()(x, 0.8)
    g, = torch.autograd.grad(conv(y).square().sum(), x, create_graph=True)
    (g ** 2).sum().backward()
    assert torch.isfinite(conv.weight.grad).all() and conv.weight.grad.abs().sum() > 0


def test_double_backward_grayscale_resampling():
    torch.manual_seed(0)
    x = images(4, 1).requires_grad_()
    conv = torch.nn.Conv2d(1, 2, 3)
    y = only(rotate=1, xfrac=1, contrast=1)(x, 1.0)
    g, = torch.autograd.grad(conv(y).square().sum(), x, create_graph=True)
    (g ** 2).sum().backward()
    assert torch.isfinite(conv.weight.grad).all() and conv.weight.grad.abs().sum() > 0


def test_flip_probability_is_p_over_two():
    torch.manual_seed(0)
    n, p = 40000, 0.3
    x = images(n, 1, 4, 4)
    y = only(xflip=1)(x, p)
    flipped = (y == x.flip(3)).flatten(1).all(1) & ~(y == x).flatten(1).all(1)
    # ADA: flip chosen with probability p, then mirrored with probability 1/2.
    assert abs(flipped.float().mean().item() - p / 2) < 0.01


def test_rotation_probability_matches_p_rot():
    torch.manual_seed(0)
    n, p = 4000, 0.3
    x = images(n, 1, 4, 4)
    y = only(rotate=1)(x, p)  # pre- and post-rotation, each with p_rot = 1 - sqrt(1 - p)
    rotated = ~(y == x).flatten(1).all(1)
    assert abs(rotated.float().mean().item() - p) < 0.03


@pytest.mark.skipif(not torch.cuda.is_available(), reason='needs CUDA')
def test_cuda_double_backward():
    x = images(4).cuda().requires_grad_()
    conv = torch.nn.Conv2d(3, 4, 3).cuda()
    y = ADAPipeline()(x, 1.0)
    assert y.device == x.device
    g, = torch.autograd.grad(conv(y).square().sum(), x, create_graph=True)
    (g ** 2).sum().backward()
    assert torch.isfinite(conv.weight.grad).all()
