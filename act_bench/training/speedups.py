"""Switchable speed-ups of the training step. Each one leaves the losses the same: bitwise
('foreach' EMA, 'prefetch', 'lean_radam' against foreach RAdam), or up to floating-point rounding ('foreach' RAdam, 'sdpa',
'channels_last', 'tf32', 'compile', 'compile_d', 'compile_optimizer'); tests/training/test_speedups.py
states the tolerances.

  foreach        RAdam steps G and D with the multi-tensor (foreach) kernels; the EMA update
                 is one torch._foreach_lerp_ over all parameters.
  lean_radam     RAdam's step-size factors once per parameter group instead of once per parameter
                 (act_bench.training.lean_radam): bitwise RAdam(foreach=True), with its state.
  flat           every network's parameters (and RAdam's state) as views of one buffer per network,
                 so RAdam and the EMA updates are single-tensor ops (act_bench.training.flat): bitwise
                 'foreach' + 'lean_radam'.
  sdpa           the discriminator uses scaled-dot-product attention, except in R1 iterations,
                 whose double backward needs the classic processor (act_bench.training.networks).
  prefetch       a background thread draws the next batch of a map-style dataset (pinned
                 memory and a non-blocking copy on CUDA) while the current step runs.
  channels_last  G, its EMA and D keep NHWC weights, so convolutions run without layout copies.
  tf32           CUDA only: fp32 matmuls and convolutions on TF32 tensor cores.
  compile        torch.compile of the generator and its EMA (not D: R1 needs double backward,
                 which compiled graphs do not support); config key train.compile.
  compile_d      torch.compile of D in the iterations without R1 (R1 iterations run D eagerly).
  compile_optimizer  torch.compile of every optimiser's step (RAdam's per-parameter Python loop
                 and its per-parameter .item() calls become one generated kernel).

`configure(training, names)` switches a built Training to exactly the named set through the hooks
Training offers (`Training.use_speedups` calls it), so the benchmark can time every set on one object
(act_bench.perf.bench).
"""

import functools

import torch

from act_bench.data.samplers import DatasetSampler, PrefetchingSampler
from act_bench.training.ema import update_ema, update_ema_foreach
from act_bench.training.flat import FlatEMA, FlatRAdam, flat_of, flatten
from act_bench.training.lean_radam import lean_radam_step

SPEEDUPS = ('foreach', 'lean_radam', 'flat', 'sdpa', 'prefetch', 'channels_last', 'tf32', 'compile', 'compile_d',
            'compile_optimizer')
DEFAULT_SPEEDUPS = ('foreach', 'lean_radam', 'flat', 'sdpa', 'prefetch')


def configured_speedups(train):
    """The speed-ups a run's train settings ask for."""
    names = list(train.get('speedups', DEFAULT_SPEEDUPS))
    return names + ['compile'] if train.get('compile') else names


def configure(training, names):
    """Switch `training` to exactly the named speed-ups; returns them in SPEEDUPS order."""
    names = set(names)
    unknown = names - set(SPEEDUPS)
    if unknown:
        raise ValueError(f"unknown speed-up {sorted(unknown)[0]!r}; expected one of {', '.join(SPEEDUPS)}")
    set_foreach(training, 'foreach' in names)
    training.loss.use_sdpa('sdpa' in names)
    set_prefetch(training, 'prefetch' in names)
    set_channels_last(training, 'channels_last' in names)
    set_tf32(training.device, 'tf32' in names)
    training.compile_generator('compile' in names)
    training.loss.compile_discriminator('compile_d' in names)
    set_optimizer_steps(training, names)
    set_flat(training, 'flat' in names and 'compile_optimizer' not in names)
    return tuple(n for n in SPEEDUPS if n in names)


def set_foreach(training, on):
    training.set_optimizer_option('foreach', on)
    training.set_ema_update(update_ema_foreach if on else update_ema)


def set_optimizer_steps(training, names):
    """'compile_optimizer' compiles RAdam's own step (it wins over 'lean_radam')."""
    if 'compile_optimizer' in names:
        training.set_optimizer_steps(lambda optimizer: torch.compile(optimizer.step))
    elif 'lean_radam' in names:
        training.set_optimizer_steps(lambda optimizer: functools.partial(lean_radam_step, optimizer))
    else:
        training.set_optimizer_steps(None)


def set_flat(training, on):
    """'flat' after every other switch: its buffers are views of the parameters as they are now (NHWC
    weights under 'channels_last' are not contiguous, and those networks stay as they are)."""
    if not on:
        return
    networks = list(training.networks().values())
    flats = flatten(networks)
    training.set_ema_update(FlatEMA(flats, networks))
    training.set_optimizer_steps(lambda optimizer: FlatRAdam(optimizer, flat_of(flats, optimizer.param_groups[0]['params'])))


def set_prefetch(training, on):
    sampler = training.sampler
    if on and isinstance(sampler, DatasetSampler):
        training.wrap_sampler(PrefetchingSampler)
    elif not on and isinstance(sampler, PrefetchingSampler):
        training.wrap_sampler(PrefetchingSampler.unwrap)


def set_channels_last(training, on):
    """NHWC weights only for image networks (samples of shape (C, H, W))."""
    if len(training.shape) == 3:
        training.set_memory_format(torch.channels_last if on else torch.contiguous_format)


def set_tf32(device, on):
    if torch.device(device).type == 'cuda':
        torch.backends.cuda.matmul.allow_tf32 = on
        torch.backends.cudnn.allow_tf32 = on
