"""ADA "bgc" augmentation (blit + general geometric + colour), differentiable to any order.

The math follows StyleGAN2-ADA (Karras et al. 2020) as ported by rosinality's "non-leaking"
stylegan2-pytorch code that the official ACT repository uses (act-spec §5.2). Per sample, each
transform is applied with probability strength·p (the two arbitrary rotations with
p_rot = 1 − sqrt(1 − strength·p)):

  blit      x-flip (i ∈ {0, 1}), 90° rotation (k ∈ {0, 1, 2, 3}), integer translation
            (uniform ±0.125 of the size, rounded to pixels);
  general   isotropic scale (lognormal, std 0.2·ln 2), pre-rotation (uniform [−π, π]),
            anisotropic scale (s, 1/s), post-rotation, fractional translation (normal, std 0.125);
  colour    brightness (+N(0, 0.2²)), contrast (lognormal, std 0.5·ln 2), luma flip (i ∈ {0, 1}),
            hue rotation about the luma axis (uniform [−π, π]), saturation (lognormal, std ln 2).

As in ADA, a chosen x-flip / luma flip draws i uniformly from {0, 1} and a chosen 90° rotation
draws k from {0, 1, 2, 3}, so e.g. a sample ends up mirrored with probability p/2.

Differences from the official ACT code (documented on purpose):
  * 90° rotation draws k uniformly from {0, 1, 2, 3} (0/90/180/270°); the official category list
    (0, 3) only ever gives 0° or 270°.
  * p = 0 returns x itself. Resampling is skipped for a batch in which no sample drew a general
    geometric transform, and only the samples that drew one are resampled; colour is skipped when
    no sample drew a colour transform. The official code always runs the resampling chain.
  * The blit transforms (flip, 90° rotation, integer translation) are pixel permutations and are
    applied exactly by index gathering (reflect boundary), before the general transforms are
    resampled. ADA folds them into the one resampling matrix, which is not exact because the
    Symlet-6 filter is asymmetric. The composed geometry is the same; only the reflected border
    content differs (reflection of the blitted image instead of the original). For non-square
    images with 90° rotations enabled, the blit is folded into the resampled matrix instead.
  * Bilinear sampling is done with gather/index arithmetic instead of grid_sample with custom
    autograd functions, so double backward (R1) works on any device without custom kernels.
  * Grayscale (C = 1) gets brightness and contrast only (ADA would also luma-flip, i.e. negate).
"""

import math

import torch
import torch.nn.functional as F

from act_bench.runtime.distributed import rows

SYM6 = (0.015404109327027373, 0.0034907120842174702, -0.11799011114819057, -0.048311742585633,
        0.4910559419267466, 0.787641141030194, 0.3379294217276218, -0.07263752278646252,
        -0.021060292512300564, 0.04472490177066578, 0.0017677118642428036, -0.007800708325034148)

# ----------------------------------------------------------------------------------------------
# Batched homogeneous matrices (float32; arguments are [N] tensors or Python numbers).


def _matrix(rows, n, device):
    rows = [[torch.as_tensor(v, dtype=torch.float32, device=device).expand(n) for v in r] for r in rows]
    return torch.stack([torch.stack(r, dim=-1) for r in rows], dim=-2)


def translate2d(tx, ty, n=1, device=None):
    return _matrix([[1, 0, tx], [0, 1, ty], [0, 0, 1]], n, device)


def scale2d(sx, sy, n=1, device=None):
    return _matrix([[sx, 0, 0], [0, sy, 0], [0, 0, 1]], n, device)


def rotate2d(theta, n=1, device=None):
    c, s = torch.cos(theta), torch.sin(theta)
    return _matrix([[c, -s, 0], [s, c, 0], [0, 0, 1]], n, device)


def translate3d(t, n, device):
    return _matrix([[1, 0, 0, t], [0, 1, 0, t], [0, 0, 1, t], [0, 0, 0, 1]], n, device)


def scale3d(s, n, device):
    return _matrix([[s, 0, 0, 0], [0, s, 0, 0], [0, 0, s, 0], [0, 0, 0, 1]], n, device)


def luma_axis(device):
    return torch.tensor([1, 1, 1, 0], dtype=torch.float32, device=device) / math.sqrt(3)


def rotate_about_luma(theta, device):
    """Rodrigues rotation by theta [N] about the luma axis, as [N, 4, 4]."""
    v = luma_axis(device)[:3]
    cross = torch.tensor([[0, -1, 1], [1, 0, -1], [-1, 1, 0]], device=device) / math.sqrt(3)  # [v]x
    c, s = torch.cos(theta)[:, None, None], torch.sin(theta)[:, None, None]
    R = c * torch.eye(3, device=device) + s * cross + (1 - c) * torch.outer(v, v)
    M = torch.eye(4, device=device).repeat(len(theta), 1, 1)
    M[:, :3, :3] = R
    return M

# ----------------------------------------------------------------------------------------------
# Random draws. Each returns (matrix [N, ...], drawn [N] bool: some transform was chosen).


def _chosen(n, prob, device):
    return torch.rand(n, device=device) < prob


def draw_blit(n, H, W, p, a, device):
    """Inverse blit matrix (output -> source, centred pixel coordinates): flip, 90°, int. shift."""
    M, drawn = torch.eye(3, device=device).repeat(n, 1, 1), torch.zeros(n, dtype=torch.bool, device=device)
    if a.xflip > 0:
        chosen = _chosen(n, a.xflip * p, device)
        i = torch.randint(0, 2, (n,), device=device) * chosen
        M, drawn = M @ scale2d(1 - 2 * i, 1, n, device), drawn | chosen
    if a.rotate90 > 0:
        chosen = _chosen(n, a.rotate90 * p, device)
        k = torch.randint(0, 4, (n,), device=device) * chosen
        M, drawn = M @ rotate2d(math.pi / 2 * k, n, device), drawn | chosen
    if a.xint > 0:
        chosen = _chosen(n, a.xint * p, device)
        t = (torch.rand(2, n, device=device) * 2 - 1) * a.xint_max * chosen
        shift = translate2d(-torch.round(t[0] * W), -torch.round(t[1] * H), n, device)
        M, drawn = M @ shift, drawn | chosen
    return M, drawn


def draw_general(n, H, W, p, a, device):
    """Inverse general matrix: iso scale, pre-rotation, aniso scale, post-rotation, frac. shift."""
    M, drawn = torch.eye(3, device=device).repeat(n, 1, 1), torch.zeros(n, dtype=torch.bool, device=device)
    p_rot = 1 - math.sqrt(max(1 - a.rotate * p, 0.0))

    def lognormal(std, chosen):
        return torch.exp2(torch.randn(n, device=device) * std * chosen)

    def rotation(chosen):
        return rotate2d((torch.rand(n, device=device) * 2 - 1) * math.pi * a.rotate_max * chosen, n, device)

    if a.scale > 0:
        chosen = _chosen(n, a.scale * p, device)
        s = lognormal(a.scale_std, chosen)
        M, drawn = M @ scale2d(1 / s, 1 / s, n, device), drawn | chosen
    if a.rotate > 0:
        chosen = _chosen(n, p_rot, device)
        M, drawn = M @ rotation(chosen), drawn | chosen
    if a.aniso > 0:
        chosen = _chosen(n, a.aniso * p, device)
        s = lognormal(a.aniso_std, chosen)
        M, drawn = M @ scale2d(1 / s, s, n, device), drawn | chosen
    if a.rotate > 0:
        chosen = _chosen(n, p_rot, device)
        M, drawn = M @ rotation(chosen), drawn | chosen
    if a.xfrac > 0:
        chosen = _chosen(n, a.xfrac * p, device)
        t = torch.randn(2, n, device=device) * a.xfrac_std * chosen
        M, drawn = M @ translate2d(-t[0] * W, -t[1] * H, n, device), drawn | chosen
    return M, drawn


def draw_colour(n, p, a, rgb, device):
    """Forward 4x4 colour matrix. Grayscale: brightness and contrast only."""
    M, drawn = torch.eye(4, device=device).repeat(n, 1, 1), torch.zeros(n, dtype=torch.bool, device=device)
    v = luma_axis(device)
    vv, I = torch.outer(v, v), torch.eye(4, device=device)
    if a.brightness > 0:
        chosen = _chosen(n, a.brightness * p, device)
        b = torch.randn(n, device=device) * a.brightness_std * chosen
        M, drawn = translate3d(b, n, device) @ M, drawn | chosen
    if a.contrast > 0:
        chosen = _chosen(n, a.contrast * p, device)
        c = torch.exp2(torch.randn(n, device=device) * a.contrast_std * chosen)
        M, drawn = scale3d(c, n, device) @ M, drawn | chosen
    if rgb and a.lumaflip > 0:
        chosen = _chosen(n, a.lumaflip * p, device)
        i = (torch.randint(0, 2, (n,), device=device) * chosen)[:, None, None]
        M, drawn = (I - 2 * vv * i) @ M, drawn | chosen
    if rgb and a.hue > 0:
        chosen = _chosen(n, a.hue * p, device)
        theta = (torch.rand(n, device=device) * 2 - 1) * math.pi * a.hue_max * chosen
        M, drawn = rotate_about_luma(theta, device) @ M, drawn | chosen
    if rgb and a.saturation > 0:
        chosen = _chosen(n, a.saturation * p, device)
        s = torch.exp2(torch.randn(n, device=device) * a.saturation_std * chosen)[:, None, None]
        M, drawn = (vv + (I - vv) * s) @ M, drawn | chosen
    return M, drawn

# ----------------------------------------------------------------------------------------------
# Applying the matrices.


def _reflect(index, size):
    """Mirror indices into [0, size) without repeating the edge (torch 'reflect'); |overshoot| < size."""
    index = index.abs()
    return (size - 1) - ((size - 1) - index).abs()


def source_coords(M, H_out, W_out):
    """Centred source coordinates (x, y), each [N, H_out, W_out], of the centred output pixels."""
    ys = torch.arange(H_out, dtype=M.dtype, device=M.device)[:, None] - (H_out - 1) / 2
    xs = torch.arange(W_out, dtype=M.dtype, device=M.device)[None, :] - (W_out - 1) / 2
    m = M[:, :2, :, None, None]  # [N, 2, 3, 1, 1]
    s = m[:, :, 0] * xs + m[:, :, 1] * ys + m[:, :, 2]  # [N, 2, H_out, W_out]
    return s[:, 0], s[:, 1]


def _gather_pixels(x, rows, cols):
    """x [N, C, H, W] at integer positions rows/cols [N, Ho, Wo] (already in range)."""
    N, C, H, W = x.shape
    index = (rows * W + cols).flatten(1)[:, None, :].expand(N, C, -1)
    return x.flatten(2).gather(2, index).view(N, C, *rows.shape[1:])


def apply_blit(x, M):
    """Exact pixel permutation: output pixel o takes x at round(M o), mirrored at the border."""
    N, C, H, W = x.shape
    sx, sy = source_coords(M, H, W)
    cols = _reflect(torch.round(sx + (W - 1) / 2).long(), W)
    rows = _reflect(torch.round(sy + (H - 1) / 2).long(), H)
    return _gather_pixels(x, rows, cols)


def bilinear_sample(x, px, py):
    """Bilinear sample of x at pixel-index positions px, py [N, Ho, Wo]; zeros outside."""
    N, C, H, W = x.shape
    x0, y0 = px.floor(), py.floor()
    out = 0
    for dy in (0, 1):
        for dx in (0, 1):
            xi, yi = x0 + dx, y0 + dy
            w = (1 - (px - xi).abs()) * (1 - (py - yi).abs())
            w = w * ((xi >= 0) & (xi <= W - 1) & (yi >= 0) & (yi <= H - 1))
            cols, rows = xi.clamp(0, W - 1).long(), yi.clamp(0, H - 1).long()
            out = out + _gather_pixels(x, rows, cols) * w[:, None].to(x.dtype)
    return out


def fir_filter(x, taps, dim, step=1):
    """Correlate x with the 1-D taps (floats) along dim, 'valid' mode, keeping every step-th output."""
    n = (x.shape[dim] - len(taps)) // step + 1
    index = [slice(None)] * x.ndim

    def tap(i):
        index[dim] = slice(i, i + (n - 1) * step + 1, step)
        return x[tuple(index)]
    return sum(w * tap(i) for i, w in enumerate(taps))


def upsample2x(x, taps):
    """ADA upsample2d: zero insertion, pad (k//2, (k-2)//2), separable convolution, gain 4."""
    N, C, H, W = x.shape
    k = len(taps)
    x = F.pad(x.reshape(N, C, H, 1, W, 1), [0, 1, 0, 0, 0, 1]).reshape(N, C, 2 * H, 2 * W)
    x = F.pad(x, [k // 2, (k - 2) // 2] * 2)
    w = [2 * t for t in reversed(taps)]  # convolution = correlation with the reversed taps
    return fir_filter(fir_filter(x, w, dim=3), w, dim=2)


def downsample2x(x, taps, crop):
    """ADA downsample2d (flip_filter=True): crop, separable correlation, keep every 2nd pixel."""
    x = x[:, :, crop:x.shape[2] - crop, crop:x.shape[3] - crop]
    return fir_filter(fir_filter(x, taps, dim=3, step=2), taps, dim=2, step=2)


def resample_margins(M, H, W, pad):
    """ADA's reflect-padding margins (x0, x1, y0, y1) covering the source of the output corners."""
    cx, cy = (W - 1) / 2, (H - 1) / 2
    corners = torch.tensor([[-cx, -cy, 1], [cx, -cy, 1], [cx, cy, 1], [-cx, cy, 1]], device=M.device)
    cp = (M @ corners.T)[:, :2, :].permute(1, 0, 2).flatten(1)  # [xy, N * 4]
    m = torch.cat([-cp, cp]).amax(dim=1) + torch.tensor([2 * pad - cx, 2 * pad - cy] * 2, device=M.device)
    m = m.clamp(min=0).minimum(torch.tensor([W - 1, H - 1] * 2, dtype=m.dtype, device=M.device))
    mx0, my0, mx1, my1 = m.ceil().int().tolist()
    return mx0, mx1, my0, my1


def apply_general(x, M, taps):
    """ADA geometric resampling: reflect pad, 2x up (Sym6), bilinear affine sample, 2x down."""
    N, C, H, W = x.shape
    pad = len(taps) // 4
    mx0, mx1, my0, my1 = resample_margins(M, H, W, pad)
    x = F.pad(x, [mx0, mx1, my0, my1], mode='reflect')
    M = translate2d((mx0 - mx1) / 2, (my0 - my1) / 2, device=M.device) @ M
    x = upsample2x(x, taps)
    M = scale2d(2, 2, device=M.device) @ M @ scale2d(0.5, 0.5, device=M.device)
    M = translate2d(-0.5, -0.5, device=M.device) @ M @ translate2d(0.5, 0.5, device=M.device)
    sx, sy = source_coords(M, 2 * (H + 2 * pad), 2 * (W + 2 * pad))
    x = bilinear_sample(x, sx + (x.shape[3] - 1) / 2, sy + (x.shape[2] - 1) / 2)
    return downsample2x(x, taps, crop=2 * pad - (len(taps) - 1) // 2)


def apply_colour(x, M):
    """4x4 colour matrix on RGB; for one channel, ADA's luma-averaged version of it."""
    M = M.to(x.dtype)
    if x.shape[1] == 3:
        return torch.einsum('nij,njhw->nihw', M[:, :3, :3], x) + M[:, :3, 3, None, None]
    row = M[:, :3, :].mean(dim=1)
    return x * row[:, :3].sum(dim=1).view(-1, 1, 1, 1) + row[:, 3].view(-1, 1, 1, 1)

# ----------------------------------------------------------------------------------------------


class ADAPipeline:
    """ADA 'bgc' augmentation of a [B, C, H, W] batch in [-1, 1] (C = 1 or 3): `pipe(x, p)`.

    Strengths multiply p per transform (ADA convention; 0 disables). See the module docstring
    for the exact transforms, exactness guarantees and differences from the official code.
    """

    def __init__(self, xflip=1, rotate90=1, xint=1, scale=1, rotate=1, aniso=1, xfrac=1,
                 brightness=1, contrast=1, lumaflip=1, hue=1, saturation=1,
                 xint_max=0.125, scale_std=0.2, rotate_max=1, aniso_std=0.2, xfrac_std=0.125,
                 brightness_std=0.2, contrast_std=0.5, hue_max=1, saturation_std=1):
        self.xflip, self.rotate90, self.xint, self.xint_max = xflip, rotate90, xint, xint_max
        self.scale, self.rotate, self.aniso, self.xfrac = scale, rotate, aniso, xfrac
        self.scale_std, self.rotate_max = scale_std, rotate_max
        self.aniso_std, self.xfrac_std = aniso_std, xfrac_std
        self.brightness, self.contrast, self.lumaflip, self.hue, self.saturation = (
            brightness, contrast, lumaflip, hue, saturation)
        self.brightness_std, self.contrast_std = brightness_std, contrast_std
        self.hue_max, self.saturation_std = hue_max, saturation_std
        self.taps = [t / sum(SYM6) for t in SYM6]  # Symlet-6, normalised to unit sum (ADA)

    def __call__(self, x, p):
        p = float(p)
        if p <= 0:
            return x
        x = self.geometric(x, p)
        M, drawn = rows(lambda m: draw_colour(m, p, self, x.shape[1] == 3, x.device), x.shape[0])
        return apply_colour(x, M) if bool(drawn.any()) else x

    def geometric(self, x, p):
        N, C, H, W = x.shape
        blit, blit_drawn = rows(lambda m: draw_blit(m, H, W, p, self, x.device), N)   # global-batch draws
        general, general_drawn = rows(lambda m: draw_general(m, H, W, p, self, x.device), N)
        if H != W and self.rotate90 > 0:  # 90° turns are not pixel permutations: resample all
            general, general_drawn = blit @ general, general_drawn | blit_drawn
            blit_drawn = torch.zeros_like(blit_drawn)
        if bool(blit_drawn.any()):
            x = apply_blit(x, blit)
        if bool(general_drawn.any()):
            idx = general_drawn.nonzero()[:, 0]
            x = x.index_copy(0, idx, apply_general(x[idx], general[idx], self.taps))
        return x
