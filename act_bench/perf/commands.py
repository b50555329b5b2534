"""`act-bench bench` and `act-bench estimate` as jobs: their thread count, their outputs (JSON, a
Markdown summary) and the command line that regenerates a benchmark."""

import json
import os
import shlex
from pathlib import Path

from act_bench.perf.bench import bench, format_markdown, parse_variant
from act_bench.perf.estimate import estimate, format_table
from act_bench.runtime.jobs import write_json

# The options of `act-bench bench` repeated in a benchmark's report, in the order they are written.
BENCH_FLAGS = ('batch', 'steps', 'repeats', 'threads', 'distance', 'precision', 'device', 'out', 'markdown')


def set_bench_threads(config, threads=None):
    import torch
    cores = len(os.sched_getaffinity(0)) if hasattr(os, 'sched_getaffinity') else os.cpu_count() or 1
    torch.set_num_threads(threads or min(config['threads'], cores))   # never oversubscribe a timing


def bench_command(config_arg, runs, variants, options):
    """The command line that regenerates a benchmark, for its report (`options`: BENCH_FLAGS' values)."""
    parts = ['act-bench', 'bench', config_arg, '--runs', *runs] if runs else ['act-bench', 'bench', config_arg]
    for flag in BENCH_FLAGS:
        value = options.get(flag)
        if value is not None and not (flag == 'device' and value == 'auto'):
            parts += [f'--{flag}', str(value)]
    if variants:
        parts += ['--variants', *variants]
    return shlex.join(parts)


def run_bench(config, config_arg, runs, variants, options):
    """Time the config's runs (BENCH_FLAGS' `options`), print the JSON and write out / markdown when asked."""
    set_bench_threads(config, options['threads'])
    parsed = {v: parse_variant(v) for v in variants} if variants else None
    result = bench(config, runs, options['steps'], options['repeats'], options['batch'], parsed, options['device'],
                   distance=options['distance'], precision=options['precision'])
    print(json.dumps(result, indent=2))
    if options['out']:
        write_json(result, options['out'])
    if options['markdown']:
        Path(options['markdown']).parent.mkdir(parents=True, exist_ok=True)
        Path(options['markdown']).write_text(format_markdown(result, bench_command(config_arg, runs, variants,
                                                                                   options)))
    return result


def run_estimate(config, runs, steps, warmup, sample_batch, device, batch, threads, distance, precision, out):
    """Projected wall time and GPU-hours of the config's runs: the table on stdout, the JSON at out if given."""
    set_bench_threads(config, threads)
    result, note = estimate(config, steps, warmup, sample_batch, runs, device, batch, distance=distance,
                            precision=precision)
    print(format_table(result, note))
    if out:
        write_json(result, out)
    return result
