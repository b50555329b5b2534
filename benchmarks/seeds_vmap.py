"""Does training several seeds of one toy setting in one process with torch.func pay? (issue #14 item 2)

    python benchmarks/seeds_vmap.py --seeds 1 2 4 8 --steps 200 --repeats 5 --out reports/perf/seeds_vmap_cpu.json

A prototype of the toy CT step of the default config (MLP 128 x 3, batch 128, pseudo-Huber, iCT's lognormal
σ and 1/Δσ weighting, μ0 = 0, RAdam, target and evaluation EMA) for k seeds at once: the k generators'
parameters stacked (torch.func.stack_module_state), the forward vmapped over them (functional_call), one
backward, RAdam and the two EMA updates as single ops over the k stacked networks (act_bench.training.flat).
It is timed interleaved repeat by repeat with the suite's own single-seed `Training.training_step` (the
default speed-ups) on the same setting; the ratio is the real step's ms over the prototype's ms per seed.
The prototype is not the suite's loop (no checkpoints, logs or per-seed RNG streams, and batched matmuls
round differently from the single-seed ones), so this measures the ceiling of what integrating it could give.
"""

import argparse
import copy
import sys
import time
from pathlib import Path

import torch
from torch.func import functional_call, stack_module_state, vmap

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from act_bench.config import config_path, load_config                    # noqa: E402
from act_bench.perf.bench import build_training, select_runs              # noqa: E402
from act_bench.training.flat import FlatParameters, FlatRAdam, pack      # noqa: E402
from common import emit, summary, timing_arguments                                          # noqa: E402


class StackedCT:
    """k copies of a Training's generator, trained by one vmapped CT step."""

    def __init__(self, training, k):
        self.loss, self.data, self.batch = training.loss, training.sampler, training.run.batch_size
        nets = [copy.deepcopy(training.net) for _ in range(k)]
        params, self.buffers = stack_module_state(nets)
        self.names = list(params)
        self.params = [torch.nn.Parameter(params[name].detach()) for name in self.names]
        self.parameters = FlatParameters(self.params)   # views of one buffer
        self.ema_flat = pack([p.detach().clone() for p in self.params])
        self.optimizer = torch.optim.RAdam(self.params, lr=training.optimizer.param_groups[0]['lr'],
                                           betas=training.optimizer.param_groups[0]['betas'], foreach=True)
        self.step_optimizer = FlatRAdam(self.optimizer, self.parameters)
        self.base = copy.deepcopy(training.net).to('meta')
        self.k, self.schedule, self.count = k, training.schedule, 0

    def network(self, params, x, sigma):
        return functional_call(self.base, (dict(zip(self.names, params)), self.buffers), (x, sigma))

    def step(self):
        k, b, (n, _) = self.k, self.batch, self.schedule(self.count)
        images = self.data(k * b)[0].view(k, b, -1)
        probabilities = self.loss.index_distribution(n)
        index = torch.multinomial(probabilities, k * b, replacement=True).view(k, b) + 1
        grid = self.loss.sigma_grid(n).float()
        sigma, sigma_prev = grid[index], grid[index - 1]
        z = torch.randn_like(images)
        forward = vmap(self.network)
        with torch.no_grad():
            target = forward(self.params, images + sigma_prev[..., None] * z, sigma_prev)
        out = forward(self.params, images + sigma[..., None] * z, sigma)
        c = 0.00054 * images.shape[-1] ** 0.5
        d = (torch.sqrt((out - target).square().sum(-1) + c ** 2) - c) / (sigma - sigma_prev)
        self.optimizer.zero_grad(set_to_none=True)
        d.mean(1).sum().backward()   # each seed's mean loss; seeds do not share parameters
        self.step_optimizer()
        with torch.no_grad():
            self.ema_flat.lerp_(self.parameters.flat, 1 - 0.999)   # the evaluation EMA (target: μ0 = 0)
        self.count += 1


def timed(step, count):
    for _ in range(3):
        step()
    start = time.perf_counter()
    for _ in range(count):
        step()
    return (time.perf_counter() - start) / count * 1e3


def measure(args):
    torch.set_num_threads(args.threads)
    config = load_config(config_path(args.config))
    run = select_runs(config, [args.run])[0]
    training = build_training(config, run, torch.device('cpu'))
    stacked = {k: StackedCT(training, k) for k in args.seeds}
    real, per_seed = [], {k: [] for k in args.seeds}
    for _ in range(args.repeats):
        real.append(timed(training.training_step, args.steps))
        for k, model in stacked.items():
            per_seed[k].append(timed(model.step, max(1, args.steps // k)) / k)
    return {'config': args.config, 'run': str(run.path), 'threads': args.threads,
            'steps': args.steps, 'repeats': args.repeats, 'torch': torch.__version__, 'command': ' '.join(sys.argv),
            'real_ms_per_iteration': summary(real),
            'seeds': {k: {'ms_per_seed_iteration': summary(v),
                          'ratio_real_over_prototype': summary([r / s for r, s in zip(real, v)])}
                      for k, v in per_seed.items()}}


def markdown(result):
    r = result['real_ms_per_iteration']
    lines = ['# Several toy seeds in one process (torch.func prototype)', '', f"`{result['command']}`", '',
             f"torch {result['torch']}, {result['threads']} thread(s), {result['repeats']} interleaved repeats. "
             f"The suite's single-seed step (default speed-ups): {r['median']:.2f} ms ({r['min']:.2f}–{r['max']:.2f}).", '',
             '| seeds per process | prototype ms per seed-iteration, median (min–max) | suite step / prototype per seed |',
             '|---|---|---|']
    for k, v in result['seeds'].items():
        m, q = v['ms_per_seed_iteration'], v['ratio_real_over_prototype']
        lines.append(f"| {k} | {m['median']:.2f} ({m['min']:.2f}–{m['max']:.2f}) | "
                     f"**{q['median']:.2f}** ({q['min']:.2f}–{q['max']:.2f}) |")
    return '\n'.join(lines) + '\n'


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--config', default='default')
    parser.add_argument('--run', default='*/toy2d-8gaussians/ct/*/seed0', help='result-path glob of the setting')
    parser.add_argument('--seeds', type=int, nargs='+', default=[1, 2, 4, 8])
    args = timing_arguments(parser, steps=200).parse_args()
    result = measure(args)
    emit(result, markdown(result), args.out)


if __name__ == '__main__':
    main()
