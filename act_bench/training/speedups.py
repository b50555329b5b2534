"""Switchable speed-ups of the training step. Each one leaves the losses the same: bitwise
('foreach' EMA, 'prefetch'), or up to floating-point rounding ('foreach' RAdam, 'sdpa',
'channels_last', 'tf32', 'compile'); tests/test_speedups.py states the tolerances.

  foreach        RAdam steps G and D with the multi-tensor (foreach) kernels; the EMA update
                 is one torch._foreach_lerp_ over all parameters.
  sdpa           the discriminator uses scaled-dot-product attention, except in R1 iterations,
                 whose double backward needs the classic processor (act_bench.training.networks).
  prefetch       a background thread draws the next batch of a map-style dataset (pinned
                 memory and a non-blocking copy on CUDA) while the current step runs.
  channels_last  G, its EMA and D keep NHWC weights, so convolutions run without layout copies.
  tf32           CUDA only: fp32 matmuls and convolutions on TF32 tensor cores.
  compile        torch.compile of the generator and its EMA (not D: R1 needs double backward,
                 which compiled graphs do not support); config key train.compile.

`configure(training, names)` switches a built Training to exactly the named set, so the
benchmark can time every set on one object (act_bench.perf.bench).
"""

import torch
from diffusers.models.attention_processor import Attention, AttnProcessor, AttnProcessor2_0

from act_bench.data.samplers import PrefetchingSampler
from act_bench.training.ema import update_ema, update_ema_foreach

SPEEDUPS = ('foreach', 'sdpa', 'prefetch', 'channels_last', 'tf32', 'compile')
DEFAULT_SPEEDUPS = ('foreach', 'sdpa', 'prefetch')


def configured_speedups(train):
    """The speed-ups a run's train settings ask for."""
    names = list(train.get('speedups', DEFAULT_SPEEDUPS))
    return names + ['compile'] if train.get('compile') else names


def configure(training, names):
    names = set(names)
    unknown = names - set(SPEEDUPS)
    if unknown:
        raise ValueError(f"unknown speed-up {sorted(unknown)[0]!r}; expected one of {', '.join(SPEEDUPS)}")
    set_foreach(training, 'foreach' in names)
    set_sdpa(training.loss, 'sdpa' in names)
    set_prefetch(training, 'prefetch' in names)
    set_channels_last(training, 'channels_last' in names)
    set_tf32(training.device, 'tf32' in names)
    set_compile(training, 'compile' in names)
    training.speedups = tuple(n for n in SPEEDUPS if n in names)

#----------------------------------------------------------------------------

def optimizers(training):
    d_opt = getattr(training.loss, 'd_optimizer', None)
    return [training.optimizer] + ([d_opt] if d_opt is not None else [])


def set_foreach(training, on):
    for opt in optimizers(training):
        opt.defaults['foreach'] = on
        for group in opt.param_groups:
            group['foreach'] = on
    training.ema_update = update_ema_foreach if on else update_ema


#----------------------------------------------------------------------------

class AttentionSwitch:
    """Sets every attention of a module to SDPA, or to the classic processor while a double
    backward (R1) is coming; set_processor is called only when the mode changes."""

    def __init__(self, module):
        self.layers = [m for m in module.modules() if isinstance(m, Attention)]
        self.double_backward = None

    def __call__(self, double_backward):
        if double_backward != self.double_backward:
            for layer in self.layers:
                layer.set_processor(AttnProcessor() if double_backward else AttnProcessor2_0())
            self.double_backward = double_backward


def set_sdpa(loss, on):
    if not hasattr(loss, 'D'):
        return
    if on:
        loss.attention_mode = getattr(loss, 'attention_mode', None) or AttentionSwitch(loss.D)
    else:
        if getattr(loss, 'attention_mode', None) is not None:
            loss.attention_mode(True)   # back to the classic processor everywhere
        loss.attention_mode = None

#----------------------------------------------------------------------------


def set_prefetch(training, on):
    sampler = training.sampler
    if on and not isinstance(sampler, PrefetchingSampler) and hasattr(sampler, 'draw'):
        training.sampler = PrefetchingSampler(sampler)
    elif not on and isinstance(sampler, PrefetchingSampler):
        sampler.close()
        training.sampler = sampler.sampler

#----------------------------------------------------------------------------

def networks(training):
    return [training.net, training.ema] + ([training.loss.D] if hasattr(training.loss, 'D') else [])


def set_channels_last(training, on):
    if training.data_kind == 'toy2d':
        return
    layout = torch.channels_last if on else torch.contiguous_format
    for net in networks(training):
        net.to(memory_format=layout)


def set_tf32(device, on):
    if torch.device(device).type == 'cuda':
        torch.backends.cuda.matmul.allow_tf32 = on
        torch.backends.cudnn.allow_tf32 = on


def set_compile(training, on):
    for net in (training.net, training.ema):
        if on and getattr(net, '_compiled_call_impl', None) is None:
            net.compile()
        elif not on:
            net._compiled_call_impl = None
