"""Projected wall time and GPU-hours of a config's full training (`act-bench estimate`).

A short timed segment per distinct (dataset, method, batch, model) measures the step time with the
config's own settings (R1 and plain iterations weighted as in act_bench.perf.bench); evaluation is
projected from the timed one-step sampling of a batch (1 network call per 1-step sample, 2 per
2-step sample) and, on the paper datasets, the timed Inception-v3 forward pass that FID runs on
every generated image. The projection is iterations × step time + evaluation: a linear
extrapolation, which the output says.
"""

import time

import torch

from act_bench.perf.bench import (build_training, device_name, iteration_seconds, matching_runs, select_runs, synchronize,
                    time_sampling)
from act_bench.data.kinds import kind_of
from act_bench.runtime.device import resolve_device

N_DEVICES = 1   # the training loop and the evaluation jobs use one device each


def time_inception(device, batch=8):
    """Seconds per image of an Inception-v3 forward at 299×299 (architecture only: random weights,
    nothing downloaded), the cost FID pays per generated image."""
    from torchvision.models import inception_v3
    net = inception_v3(weights=None, aux_logits=False, init_weights=False).eval().to(device)
    x = torch.rand(batch, 3, 299, 299, device=device)
    with torch.no_grad():
        net(x)   # warm-up
        synchronize(device)
        start = time.perf_counter()
        net(x)
        synchronize(device)
    return (time.perf_counter() - start) / batch


def evaluation_calls(config):
    """Network calls per evaluated run, and generated images whose features the metric computes."""
    ev = config['evaluation']
    two_step = ev['two_step_sigma'] is not None
    return ev['n_samples'] * (3 if two_step else 1), ev['n_samples'] * (2 if two_step else 1)


def time_segment(config, run, device, steps, warmup, sample_batch, batch=None, **overrides):
    """(seconds per training iteration, seconds per sampled image) of one (dataset, method, batch, model).
    With `batch` smaller than the run's, the step is timed at `batch` and scaled by run batch / batch."""
    timed_batch = min(batch or run.batch_size, run.batch_size)
    training = build_training(config, run, device, timed_batch, **overrides)
    for _ in range(warmup):
        iteration_seconds(training, 1)
    _, step_seconds = iteration_seconds(training, steps)
    step_seconds *= run.batch_size / timed_batch
    batch = min(sample_batch or config['evaluation']['batch_size'], config['evaluation']['batch_size'])
    time_sampling(training, batch)   # warm-up
    return step_seconds, time_sampling(training, batch) / batch


def estimate(config, steps=2, warmup=1, sample_batch=None, selectors=None, device='auto', batch=None,
             **overrides):
    device = resolve_device(config['device'] if device == 'auto' else device)
    segments = {}
    for run in select_runs(config, selectors):
        key = (run.dataset, run.method, run.batch_size, run.model)
        if key not in segments:
            segments[key] = time_segment(config, run, device, steps, warmup, sample_batch, batch, **overrides)
    calls, featured = evaluation_calls(config)
    inception_data = any(kind_of(config['datasets'][d]).inception_metrics for d, *_ in segments)
    inception = time_inception(device) if inception_data else 0.0
    runs = []
    for run in matching_runs(config, selectors):
        key = (run.dataset, run.method, run.batch_size, run.model)
        if key not in segments:
            continue
        step_seconds, sample_seconds = segments[key]
        feature_seconds = inception if kind_of(config['datasets'][run.dataset]).inception_metrics else 0.0
        train_h = run.train['iterations'] * step_seconds / 3600
        eval_h = (calls * sample_seconds + featured * feature_seconds) / 3600
        runs.append({**run.wildcards, 'step_seconds': step_seconds, 'projected_train_hours': train_h,
                     'projected_eval_hours': eval_h, 'projected_wall_hours': train_h + eval_h,
                     'projected_gpu_hours': (train_h + eval_h) * N_DEVICES, 'n_devices': N_DEVICES})
    note = (f'extrapolated from {steps} timed iteration(s) per kind (R1 / plain, weighted) after {warmup} '
            'warm-up and one timed sampling batch, on synthetic images'
            + (f'; steps timed at batch {batch} and scaled linearly to each run\'s batch' if batch else '')
            + '; evaluation: sampling plus, on paper '
            'data, an Inception-v3 forward per generated image (random weights); bundled-data metrics not timed')
    return {'config': config['name'], 'device': device_name(device), 'runs': runs}, note


def format_table(result, note):
    head = f"{'run':58} {'step s':>8} {'train h':>9} {'eval h':>8} {'GPU-h':>9}"
    lines = [f"{result['config']} on {result['device']}: {note}", head, '-' * len(head)]
    for r in result['runs']:
        name = f"{r['dataset']}/{r['method']}/b{r['batch_size']}/{r['model']}/aug-{r['augment']}/s{r['seed']}"
        lines.append(f"{name:58} {r['step_seconds']:8.3f} {r['projected_train_hours']:9.2f} "
                     f"{r['projected_eval_hours']:8.2f} {r['projected_gpu_hours']:9.2f}")
    return '\n'.join(lines)
