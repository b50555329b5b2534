"""One-step and two-step sampling from a trained consistency model (act-spec §7, ct-spec §7)."""

import math

import torch


def sample_seed(run_seed):
    """The seed of a run's evaluation samples (apart from the training seeds run_seed, run_seed + 1)."""
    return 10_000 + run_seed


def sample(net, shape, n, batch_size=500, mid_sigma=None, clip=True, seed=0, device='cpu', num_classes=None):
    """Samples 0 .. n−1 of `sample_range`'s stream, on the CPU: the one-step ones, or with `mid_sigma` the
    two-step ones."""
    name = '1-step' if mid_sigma is None else '2-step'
    stream = sample_range(net, shape, 0, n, batch_size, seed, mid_sigma, clip, device, num_classes)
    return torch.cat([batch[name].cpu() for _, batch in stream])


@torch.no_grad()
def sample_range(net, shape, start, end, batch_size, seed=0, mid_sigma=None, clip=True, device='cpu',
                 num_classes=None):
    """Samples start .. end−1 of a seeded stream, batch by batch, for jobs that each take a part of it:
    x = f(σ_max·z, σ_max); with `mid_sigma`, one more step x2 = f(x + sqrt(σ_mid² − σ_min²)·z', σ_mid).
    Images are clipped to [−1, 1] after each step (`clip`); class-conditional nets get labels drawn
    uniformly (as the official ImageNet evaluation). Yields (index of the batch's first sample,
    {'1-step': x[, '2-step': x2]}). Batch k of the stream
    (samples k·B .. k·B+B−1) comes from its own generator seeded by (seed, k), so splitting [0, n) into
    ranges in any way draws the same samples. The two-step sample continues from the one-step one."""
    for k in range(start // batch_size, -(-end // batch_size)):
        generator = torch.Generator(device=device).manual_seed(seed * 1_000_003 + k)
        z = torch.randn((batch_size, *shape), generator=generator, device=device)
        labels = (torch.randint(num_classes, (batch_size,), generator=generator, device=device)
                  if num_classes else None)
        x = net(net.sigma_max * z, torch.full((batch_size,), net.sigma_max, device=device), labels)
        out = {'1-step': x.clamp(-1, 1) if clip else x}
        if mid_sigma is not None:
            noise = torch.randn((batch_size, *shape), generator=generator, device=device)
            x2 = out['1-step'] + math.sqrt(mid_sigma ** 2 - net.sigma_min ** 2) * noise
            x2 = net(x2, torch.full((batch_size,), float(mid_sigma), device=device), labels)
            out['2-step'] = x2.clamp(-1, 1) if clip else x2
        lo, hi = max(start, k * batch_size), min(end, (k + 1) * batch_size)
        yield lo, {name: v[lo - k * batch_size:hi - k * batch_size] for name, v in out.items()}
