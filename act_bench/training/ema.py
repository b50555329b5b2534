"""Exponential moving averages of a network's weights: the target network θ⁻ (and its multi-tensor form)."""

import torch


@torch.no_grad()
def update_ema(ema, net, mu):
    """θ⁻ ← μ·θ⁻ + (1 − μ)·θ over parameters; buffers are copied."""
    for p_ema, p in zip(ema.parameters(), net.parameters()):
        p_ema.lerp_(p, 1 - mu)
    for b_ema, b in zip(ema.buffers(), net.buffers()):
        b_ema.copy_(b)


@torch.no_grad()
def update_ema_foreach(ema, net, mu):
    """training_loop.update_ema as two multi-tensor kernels."""
    torch._foreach_lerp_(list(ema.parameters()), list(net.parameters()), 1 - mu)
    buffers = list(ema.buffers())
    if buffers:
        torch._foreach_copy_(buffers, list(net.buffers()))


