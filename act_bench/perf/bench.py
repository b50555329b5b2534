"""Throughput of the real training step (`act-bench bench`).

Times CT and ACT iterations of a config's runs with the project's own Training and loss objects:
generator step, ACT's discriminator step, target EMA update. ACT's lazy R1 runs in one iteration of
every r1_interval, so R1 and plain iterations are timed apart and weighted (1 and r1_interval − 1).
Every set of speed-ups (act_bench.training.speedups) is timed on the same Training object, interleaved
repeat by repeat, so a shared, noisy machine slows all of them alike; speed-ups are reported as
ratios of times measured in the same repeat.
"""

import dataclasses
import fnmatch
import statistics
import time

import numpy as np
import torch
from torch.utils.flop_counter import FlopCounterMode

from act_bench.data.bundled import dataset_info, prepare_dataset
from act_bench.data.kinds import kind_of
from act_bench.runtime.errors import ConfigError
from act_bench.runtime.provenance import code_provenance
from act_bench.config import expand_runs
from act_bench.training.sampling import sample
from act_bench.training.speedups import DEFAULT_SPEEDUPS, SPEEDUPS
from act_bench.training.loop import Training
from act_bench.runtime.device import peak_memory_mb, resolve_device

# Dense peak TFLOP/s per GPU (no sparsity) from the vendors' data sheets: bf16/fp16, tf32, fp32.
PEAK_TFLOPS = (  # (name fragment, peaks); the first fragment found in the device name wins
    ('H200', {'bf16': 989.0, 'tf32': 494.5, 'fp32': 66.9}),
    ('H100 PCIe', {'bf16': 756.0, 'tf32': 378.0, 'fp32': 51.2}),
    ('H100', {'bf16': 989.0, 'tf32': 494.5, 'fp32': 66.9}),
    ('A100', {'bf16': 312.0, 'tf32': 156.0, 'fp32': 19.5}),
)

# The sets timed by default: none, the config default, and the default with one change each.
def default_variants():
    variants = {'none': (), 'default': DEFAULT_SPEEDUPS}
    for name in DEFAULT_SPEEDUPS:
        variants[f'default-{name}'] = tuple(n for n in DEFAULT_SPEEDUPS if n != name)
    variants['default+channels_last'] = DEFAULT_SPEEDUPS + ('channels_last',)
    return variants

def parse_variant(label):
    """'none', 'default', 'default-prefetch', 'default+channels_last', 'foreach+sdpa' -> speed-up names."""
    names = []
    for part in label.split('+'):
        base, *minus = part.split('-')
        names += list(DEFAULT_SPEEDUPS) if base == 'default' else [] if base == 'none' else [base]
        names = [n for n in names if n not in minus]
    for name in names + [m for part in label.split('+') for m in part.split('-')[1:]]:
        if name not in SPEEDUPS:
            raise ConfigError(f"unknown speed-up '{name}' in variant '{label}'; expected none, default or "
                              f"{', '.join(SPEEDUPS)}, joined with + and -")
    return tuple(dict.fromkeys(names))

#----------------------------------------------------------------------------
# Data and training objects.

class SyntheticImages(torch.utils.data.Dataset):
    """Stand-in for a paper dataset (uint8 images decoded per item, like CIFAR10's arrays): step
    time does not depend on pixel values, and the benchmark needs no downloaded data."""

    def __init__(self, shape, num_classes=None, n=256, seed=0):
        rng = np.random.default_rng(seed)
        self.images = rng.integers(0, 256, (n, *shape), dtype=np.uint8)
        self.num_classes = num_classes

    def __len__(self):
        return len(self.images)

    def __getitem__(self, i):
        x = torch.from_numpy(self.images[i]).float() / 127.5 - 1
        return x, i % (self.num_classes or 1)


def bench_data(spec):
    if kind_of(spec).bundled:
        return torch.from_numpy(prepare_dataset(spec)['train'])
    shape, classes = dataset_info(spec)
    return SyntheticImages(shape, classes)


def matching_runs(config, patterns=None):
    """The config's runs whose results path matches one of the glob patterns (all without patterns)."""
    return [run for run in expand_runs(config)
            if not patterns or any(fnmatch.fnmatchcase(run.path, p) for p in patterns)]


def select_runs(config, patterns=None):
    """One run per distinct (dataset, method, batch, model, augment) whose results path matches one
    of the glob patterns (all runs without patterns)."""
    out = {}
    for run in matching_runs(config, patterns):
        out.setdefault((run.dataset, run.method, run.batch_size, run.model, run.augment), run)
    return list(out.values())


def build_training(config, run, device, batch=None, **train_overrides):
    run = dataclasses.replace(run, batch_size=batch or run.batch_size,
                              train={**run.train, **{k: v for k, v in train_overrides.items() if v is not None}})
    spec = config['datasets'][run.dataset]
    return Training(run, spec, config['models'][run.model], bench_data(spec), device)

#----------------------------------------------------------------------------
# Timing.

def synchronize(device):
    if device.type == 'cuda':
        torch.cuda.synchronize(device)


def iteration_kinds(training):
    """{kind: (a step number of that kind, its weight per iteration)}: R1 iterations are step ≡ 0 (only a loss
    with an R1 cadence has them: ACTLoss)."""
    R = training.loss.r1_cadence
    if R is not None:
        if R == 1:
            return {'r1': (0, 1.0)}
        return {'r1': (0, 1 / R), 'plain': (1, (R - 1) / R)}
    return {'plain': (1, 1.0)}


def time_iterations(training, step, count):
    """Mean seconds of `count` iterations, each at step number `step`."""
    seconds = 0.0
    for _ in range(count):
        training.step = step
        synchronize(training.device)
        start = time.perf_counter()
        training.training_step()
        synchronize(training.device)
        seconds += time.perf_counter() - start
    return seconds / count


def time_sampling(training, batch):
    """Seconds of one-step sampling of `batch` images from the EMA network."""
    synchronize(training.device)
    start = time.perf_counter()
    sample(training.ema, training.shape, n=batch, batch_size=batch, clip=training.kind.clip is not None,
           device=training.device, num_classes=training.num_classes)
    synchronize(training.device)
    return time.perf_counter() - start


def iteration_seconds(training, steps):
    """{kind: mean seconds} and the weighted seconds per iteration."""
    kinds = iteration_kinds(training)
    per_kind = {kind: time_iterations(training, step, steps) for kind, (step, _) in kinds.items()}
    return per_kind, sum(per_kind[k] * w for k, (_, w) in kinds.items())


class _GlobalTotalOnly:
    """Stands in for FlopCounterMode's per-module tracker, whose backward hooks break the
    torch.autograd.grad call of R1; the global total is all the benchmark reports."""
    parents = ('Global',)

    def __enter__(self):
        return self

    def __exit__(self, *args):
        return False


def count_flops(training):
    """FLOPs of one iteration, weighted over R1 and plain iterations as they occur."""
    total = 0
    for step, weight in iteration_kinds(training).values():
        training.step = step
        counter = FlopCounterMode(display=False)
        counter.mod_tracker = _GlobalTotalOnly()
        with counter:
            training.training_step()
        total += weight * counter.get_total_flops()
    return total

#----------------------------------------------------------------------------

def spread(values, scale=1.0):
    values = [v * scale for v in values]
    return {'min': min(values), 'median': statistics.median(values), 'max': max(values)}


def device_name(device):
    return torch.cuda.get_device_name(device) if device.type == 'cuda' else 'cpu'


def peak_tflops(device, precision, tf32):
    """The GPU's dense peak for the step's dtype, or None (CPU, or a GPU not in PEAK_TFLOPS)."""
    if device.type != 'cuda':
        return None
    name = device_name(device)
    for fragment, peaks in PEAK_TFLOPS:
        if fragment in name:
            return peaks['bf16' if precision in ('bf16', 'fp16') else ('tf32' if tf32 else 'fp32')]
    return None


def bench_run(config, run, device, variants, steps=2, repeats=3, batch=None, **overrides):
    """Interleaved timings of one run's iteration and one-step sampling under every speed-up set."""
    training = build_training(config, run, device, batch, **overrides)
    batch = training.run.batch_size
    training.use_speedups(())
    flops = count_flops(training)   # counted once, on the plain step (no compiled graphs)
    for names in variants.values():   # warm-up: every kind of iteration once per set
        training.use_speedups(names)
        iteration_seconds(training, 1)
    times = {v: {'iteration': [], 'kinds': {}, 'sampling': [], 'memory': 0.0} for v in variants}
    for _ in range(repeats):
        for label, names in variants.items():
            training.use_speedups(names)
            if device.type == 'cuda':
                torch.cuda.reset_peak_memory_stats(device)
            per_kind, seconds = iteration_seconds(training, steps)
            t = times[label]
            t['iteration'].append(seconds)
            for kind, s in per_kind.items():
                t['kinds'].setdefault(kind, []).append(s)
            t['sampling'].append(time_sampling(training, batch))
            t['memory'] = max(t['memory'], peak_memory_mb(device))
    training.use_speedups(())
    precision = training.train['precision']
    return run_report(training, variants, times, flops, device, precision)


def run_report(training, variants, times, flops, device, precision):
    run, batch = training.run, training.run.batch_size
    out = {**{k: v for k, v in run.wildcards.items() if k != 'seed'}, 'batch_size': batch,
           'r1_interval': training.loss.r1_cadence,
           'dtype': precision, 'flops_per_iteration': flops, 'variants': {}}
    for label, names in variants.items():
        t = times[label]
        median = statistics.median(t['iteration'])
        peak = peak_tflops(device, precision, 'tf32' in names)
        achieved = flops / median / 1e12
        out['variants'][label] = {
            'speedups': list(names),
            'ms_per_iteration': spread(t['iteration'], 1e3),
            **{f'ms_{kind}_iteration': spread(v, 1e3) for kind, v in t['kinds'].items()},
            'images_per_second': batch / median,
            'sampling_images_per_second': batch / statistics.median(t['sampling']),
            'peak_memory_mb': round(t['memory'], 1),
            'achieved_tflops': achieved,
            **({'mfu': achieved / peak, 'peak_tflops': peak} if peak else {})}
    out['ratios'] = speedup_ratios(variants, times)
    return out


def speedup_ratios(variants, times):
    """Time without / time with, per repeat (same repeat, so equally loaded), summarised."""
    def paired(slow, fast):
        return spread([a / b for a, b in zip(times[slow]['iteration'], times[fast]['iteration'])])
    ratios = {}
    if 'none' in variants and 'default' in variants:
        ratios['default_vs_none'] = paired('none', 'default')
    for label in variants if 'default' in variants else ():   # the single-change ratios are against `default`
        if label.startswith('default-'):
            ratios[label.split('-', 1)[1]] = paired(label, 'default')
        elif label.startswith('default+'):
            ratios[label.split('+', 1)[1]] = paired('default', label)
    return ratios


def bench(config, selectors=None, steps=2, repeats=3, batch=None, variants=None, device='auto', **overrides):
    device = resolve_device(config['device'] if device == 'auto' else device)
    variants = variants or default_variants()
    runs = [bench_run(config, run, device, variants, steps, repeats, batch, **overrides)
            for run in select_runs(config, selectors)]
    return {'config': config['name'], 'device': device_name(device), 'device_type': device.type,
            'torch': torch.__version__, 'threads': torch.get_num_threads(), 'code': code_provenance(),
            'steps_per_kind': steps, 'repeats': repeats,
            'data': 'bundled data' if all(kind_of(config['datasets'][r['dataset']]).bundled for r in runs)
            else 'synthetic images of the dataset shape (step time does not depend on pixel values)',
            'overrides': {k: v for k, v in overrides.items() if v is not None},
            'peak_memory_note': 'CUDA: max allocated per variant; CPU: peak RSS of the whole process',
            'runs': runs}


def milliseconds(value):
    """Whole milliseconds from 100 up, else three significant digits (the small networks' steps take 2–20 ms)."""
    return f'{value:.0f}' if value >= 100 else f'{value:.3g}'


def format_markdown(result, command=None):
    """A short report: per run, every variant's timings and the speed-up ratios."""
    lines = [f"# Training-step benchmark: {result['config']} on {result['device']}", '',
             f"torch {result['torch']}, {result['threads']} threads, {result['repeats']} interleaved repeats of "
             f"{result['steps_per_kind']} timed iteration(s) per kind; data: {result['data']}."
             + (f" Overrides: {result['overrides']}." if result['overrides'] else '')]
    code = result.get('code') or {}
    if code.get('git_commit'):
        lines[-1] += f" Code: commit {code['git_commit'][:7]}{' with modified tracked files' if code['git_dirty'] else ''}."
    if command:
        lines += ['', f'Regenerate: `{command}`']
    for run in result['runs']:
        r1 = f", R1 every {run['r1_interval']} (weighted)" if run['r1_interval'] else ''
        lines += ['', f"## {run['dataset']} {run['method']} {run['model']} batch {run['batch_size']} "
                      f"aug-{run['augment']} ({run['dtype']}{r1})", '',
                  f"{run['flops_per_iteration'] / 1e9:.3g} GFLOP per iteration.", '',
                  '| variant | ms / iteration, median (min–max) | images/s | sampling images/s | TFLOP/s | MFU |',
                  '|---|---|---|---|---|---|']
        for label, v in run['variants'].items():
            ms = v['ms_per_iteration']
            mfu = f"{v['mfu']:.1%}" if 'mfu' in v else '–'
            lines.append(f"| {label} | {milliseconds(ms['median'])} ({milliseconds(ms['min'])}–{milliseconds(ms['max'])}) | "
                         f"{v['images_per_second']:.2f} | {v['sampling_images_per_second']:.1f} | "
                         f"{v['achieved_tflops']:.3f} | {mfu} |")
        lines += ['', '| speed-up | time without / time with, median (min–max) over repeats |', '|---|---|']
        for name, r in run['ratios'].items():
            lines.append(f"| {name} | {r['median']:.3f} ({r['min']:.3f}–{r['max']:.3f}) |")
    return '\n'.join(lines) + '\n'
