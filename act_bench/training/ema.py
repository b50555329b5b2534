"""Exponential moving averages of a network's weights, used for both averaged networks a run keeps:
the target θ⁻ (rate μ(k), in the loss) and the evaluation EMA (rate β, sampled only; ct-spec §5)."""

import torch


@torch.no_grad()
def update_ema(ema, net, mu):
    """θ_ema ← μ·θ_ema + (1 − μ)·θ over parameters; buffers are copied."""
    for p_ema, p in zip(ema.parameters(), net.parameters()):
        p_ema.lerp_(p, 1 - mu)
    for b_ema, b in zip(ema.buffers(), net.buffers()):
        b_ema.copy_(b)


@torch.no_grad()
def update_ema_foreach(ema, net, mu):
    """update_ema as two multi-tensor kernels."""
    torch._foreach_lerp_(list(ema.parameters()), list(net.parameters()), 1 - mu)
    buffers = list(ema.buffers())
    if buffers:
        torch._foreach_copy_(buffers, list(net.buffers()))
