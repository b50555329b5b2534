"""Training-step time of this tree against an earlier commit, side by side in one run.

    python benchmarks/step_vs_commit.py --base 389349d --config benchmarks/step_config.yaml \
        --runs '*/toy2d-8gaussians/*' --steps 32 --repeats 7 --out reports/perf/step_vs_base.json

The commit is exported (`git archive`) into a temporary folder; each repeat runs `act-bench bench <config>
--variants default --repeats 1` once in each tree, in alternating order (base, this; this, base; ...), each
a fresh process importing its own `act_bench` (PYTHONPATH) under the same Python and libraries, so load
from other processes hits both alike. The ratio of a run is base ms / this ms within one repeat (median,
min, max over the repeats); > 1 means this tree is faster. The config must be one both trees accept.
"""

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

from common import emit, summary, timing_arguments

ROOT = Path(__file__).resolve().parents[1]
MAIN = "import sys; from act_bench.cli import main; sys.argv[0] = 'act-bench'; main()"


def export(revision, folder):
    """The tree of `revision` under `folder` (git archive | tar)."""
    archive = subprocess.run(['git', '-C', str(ROOT), 'archive', revision], check=True, capture_output=True).stdout
    subprocess.run(['tar', '-x', '-C', str(folder)], input=archive, check=True)
    return folder


def describe(revision):
    out = subprocess.run(['git', '-C', str(ROOT), 'rev-parse', '--short', revision], check=True,
                         capture_output=True, text=True)
    return out.stdout.strip()


def bench_once(tree, args, out):
    """One `act-bench bench ... --variants default --repeats 1` in `tree`; {run label: ms per iteration}."""
    command = [sys.executable, '-c', MAIN, 'bench', str(Path(args.config).resolve()), '--steps', str(args.steps),
               '--repeats', '1', '--threads', str(args.threads), '--variants', 'default', '--out', str(out)]
    if args.runs:
        command += ['--runs', *args.runs]
    env = {**os.environ, 'PYTHONPATH': str(tree)}
    subprocess.run(command, cwd=tree, env=env, check=True, stdout=subprocess.DEVNULL)
    report = json.loads(Path(out).read_text())
    return {label(r): r['variants']['default'] for r in report['runs']}


def label(run):
    extra = f", R1 every {run['r1_interval']} (weighted)" if run.get('r1_interval') else ''
    return f"{run['dataset']} {run['method']} {run['model']} batch {run['batch_size']} aug-{run['augment']}{extra}"


def compare(args):
    with tempfile.TemporaryDirectory() as scratch:
        base_tree = Path(scratch) / 'base'
        base_tree.mkdir()
        trees = {'base': export(args.base, base_tree), 'this': ROOT}
        times = {'base': [], 'this': []}
        loads = [os.getloadavg()[0]]
        for repeat in range(args.repeats):
            order = ['base', 'this'] if repeat % 2 == 0 else ['this', 'base']
            for name in order:
                result = bench_once(trees[name], args, Path(scratch) / f'{name}{repeat}.json')
                times[name].append(result)
                print(f'repeat {repeat + 1}/{args.repeats} {name}: ' +
                      ', '.join(f"{k}: {v['ms_per_iteration']['median']:.2f} ms" for k, v in result.items()),
                      file=sys.stderr)
            loads.append(os.getloadavg()[0])
    return tabulate(args, times, loads)


def tabulate(args, times, loads):
    runs = {}
    for run in times['this'][0]:
        base_ms = [t[run]['ms_per_iteration']['median'] for t in times['base']]
        this_ms = [t[run]['ms_per_iteration']['median'] for t in times['this']]
        runs[run] = {'base_ms_per_iteration': summary(base_ms), 'this_ms_per_iteration': summary(this_ms),
                     'ratio': summary([b / t for b, t in zip(base_ms, this_ms)]),
                     'base_speedups': times['base'][0][run]['speedups'],
                     'this_speedups': times['this'][0][run]['speedups']}
    dirty = subprocess.run(['git', '-C', str(ROOT), 'status', '--porcelain', '--', 'act_bench', 'pyproject.toml'],
                           capture_output=True, text=True).stdout.strip() != ''   # the code timed
    return {'base': describe(args.base), 'this': describe('HEAD') + (' + uncommitted changes' if dirty else ''),
            'config': args.config, 'steps': args.steps, 'repeats': args.repeats, 'threads': args.threads,
            'load_average_1min': loads, 'command': ' '.join(sys.argv), 'runs': runs}


def markdown(result):
    lines = [f"# Training step: {result['this']} against {result['base']}", '',
             f"`{result['command']}`", '',
             f"{result['repeats']} interleaved repeats (one process per tree and repeat), {result['steps']} timed "
             f"iterations per kind each, {result['threads']} thread(s); the trees' own default speed-ups; load average "
             f"(1 min) {min(result['load_average_1min']):.1f}–{max(result['load_average_1min']):.1f}.", '',
             f"| run | {result['base']} ms / iteration, median (min–max) | this ms / iteration | ratio, median (min–max) |",
             '|---|---|---|---|']
    for run, r in result['runs'].items():
        b, t, q = r['base_ms_per_iteration'], r['this_ms_per_iteration'], r['ratio']
        lines.append(f"| {run} | {b['median']:.2f} ({b['min']:.2f}–{b['max']:.2f}) | {t['median']:.2f} "
                     f"({t['min']:.2f}–{t['max']:.2f}) | **{q['median']:.2f}** ({q['min']:.2f}–{q['max']:.2f}) |")
    return '\n'.join(lines) + '\n'


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--base', required=True, help='git revision to compare against')
    parser.add_argument('--config', required=True, help='a config file both trees accept')
    parser.add_argument('--runs', nargs='*', default=[], help="result-path globs, as act-bench bench --runs")
    args = timing_arguments(parser, steps=16).parse_args()
    result = compare(args)
    emit(result, markdown(result), args.out)


if __name__ == '__main__':
    main()
