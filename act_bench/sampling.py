"""One-step and two-step sampling from a trained consistency model (act-spec §7, ct-spec §7)."""

import math

import torch


@torch.no_grad()
def sample(net, shape, n, batch_size=500, mid_sigma=None, clip=True, seed=0, device='cpu', num_classes=None):
    """Draw n samples: x = f(σ_max·z, σ_max); with `mid_sigma`, one more step
    x = f(x + sqrt(σ_mid² − σ_min²)·z', σ_mid). Images are clipped to [−1, 1] after each step.
    Class-conditional nets get labels drawn uniformly (as the official ImageNet evaluation)."""
    generator = torch.Generator(device=device).manual_seed(seed)
    out = []
    for start in range(0, n, batch_size):
        b = min(batch_size, n - start)
        z = torch.randn((b, *shape), generator=generator, device=device)
        labels = torch.randint(num_classes, (b,), generator=generator, device=device) if num_classes else None
        sigma = torch.full((b,), net.sigma_max, device=device)
        x = net(net.sigma_max * z, sigma, labels)
        x = x.clamp(-1, 1) if clip else x
        if mid_sigma is not None:
            noise = torch.randn((b, *shape), generator=generator, device=device)
            x = x + math.sqrt(mid_sigma ** 2 - net.sigma_min ** 2) * noise
            x = net(x, torch.full((b,), float(mid_sigma), device=device), labels)
            x = x.clamp(-1, 1) if clip else x
        out.append(x.cpu())
    return torch.cat(out)
