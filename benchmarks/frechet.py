"""Seconds of clean-fid's sqrtm-based `frechet_distance` and of ours (act_bench.evaluation.frechet) on the
same statistics, interleaved repeat by repeat (clean-fid, ours, clean-fid, ours, ...), and their ratio.

    python benchmarks/frechet.py [--dim 2048 32] [--n 3000] [--repeats 3] [--out FILE.json]

2048 is Inception's pool3 size (FID), 32 the digits classifier's default feature_dim (fd_digits). The
statistics are those of n non-negative correlated features (low-rank factors with a power-law spectrum
plus independent noise, ReLU'd), full rank for n > dim. Small dimensions time several calls per repeat
(as many as ours takes 0.2 s for) and report seconds per call. The ratio is clean-fid's seconds / ours within a repeat."""

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import time
import warnings
from importlib.metadata import version

import numpy as np
from cleanfid.fid import frechet_distance as sqrtm_frechet_distance  # imported before any timing

from act_bench.evaluation.frechet import frechet_distance

MIN_REPEAT_SECONDS = 0.2


def clean_fid_distance(*stats):
    with warnings.catch_warnings():  # clean-fid 0.1.35 passes sqrtm's `disp`, deprecated in SciPy 1.16
        warnings.simplefilter('ignore', DeprecationWarning)
        return float(sqrtm_frechet_distance(*stats))


def feature_statistics_pair(dim, n, seed=0):
    """(mu1, sigma1, mu2, sigma2) of two feature sets whose factor loadings differ."""
    rng = np.random.default_rng(seed)
    rank = max(dim // 4, 1)
    scale = np.arange(1, rank + 1)[:, None] ** -0.7
    out = []
    for shift in (0.0, 0.1):
        loadings = rng.standard_normal((rank, dim)) * scale
        x = np.maximum(rng.standard_normal((n, rank)) @ loadings + 0.1 * rng.standard_normal((n, dim)) + 0.3 + shift, 0)
        out += [x.mean(0), np.cov(x, rowvar=False)]
    return out


def seconds_per_call(fn, stats, calls):
    start = time.perf_counter()
    for _ in range(calls):
        value = fn(*stats)
    return (time.perf_counter() - start) / calls, value


def summary(values):
    return {'min': min(values), 'median': statistics.median(values), 'max': max(values)}


def compare(dim, n, repeats):
    """Both functions timed on one dimension's statistics: seconds, ratios and the values' difference."""
    stats = feature_statistics_pair(dim, n)
    first, _ = seconds_per_call(frechet_distance, stats, 1)  # warm-up, and the call count of a repeat
    calls = max(1, int(MIN_REPEAT_SECONDS / first))
    if calls > 1:  # a small dimension: warm clean-fid's path up too (a 2048-d call costs 20-70 s)
        seconds_per_call(clean_fid_distance, stats, 1)
    times = {'clean_fid': [], 'ours': []}
    for _ in range(repeats):
        t, clean = seconds_per_call(clean_fid_distance, stats, calls)
        times['clean_fid'].append(t)
        t, ours = seconds_per_call(frechet_distance, stats, calls)
        times['ours'].append(t)
    ratios = [c / o for c, o in zip(times['clean_fid'], times['ours'])]
    return {'dim': dim, 'n_samples': n, 'calls_per_repeat': calls,
            'seconds_per_call': {name: summary(t) for name, t in times.items()},
            'ratio_per_repeat': ratios, 'ratio': summary(ratios),
            'value': {'clean_fid': clean, 'ours': ours}, 'relative_difference': abs(ours - clean) / abs(clean)}


def environment():
    commit = subprocess.run(['git', 'rev-parse', 'HEAD'], capture_output=True, text=True).stdout.strip()
    dirty = bool(subprocess.run(['git', 'status', '--porcelain', '--untracked-files=no'],
                                capture_output=True, text=True).stdout.strip())
    return {'commit': commit or None, 'uncommitted_changes': dirty, 'machine': platform.machine(),
            'processor': platform.processor() or None, 'cpu_count': os.cpu_count(),
            'thread_variables': {k: v for k, v in os.environ.items() if k.endswith('_NUM_THREADS')},
            'versions': {p: version(p) for p in ('numpy', 'scipy', 'clean-fid')}}


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('--dim', type=int, nargs='+', default=[2048, 32], help='feature dimensions to time')
    parser.add_argument('--n', type=int, default=3000, help='samples behind each covariance')
    parser.add_argument('--repeats', type=int, default=3)
    parser.add_argument('--out', help='write the JSON here (it is always printed)')
    args = parser.parse_args(argv)
    result = {'command': 'python benchmarks/frechet.py ' + ' '.join(argv if argv is not None else sys.argv[1:]),
              **environment(), 'repeats': args.repeats, 'load_average_before': os.getloadavg(),
              'results': [compare(dim, args.n, args.repeats) for dim in args.dim],
              'load_average_after': os.getloadavg()}
    text = json.dumps(result, indent=2)
    print(text)
    if args.out:
        with open(args.out, 'w') as f:
            f.write(text + '\n')


if __name__ == '__main__':
    main()
