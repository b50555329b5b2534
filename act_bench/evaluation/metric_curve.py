"""The metric over training: the run's EMA snapshots (act_bench.runtime.snapshots), each sampled one-step
and scored with the same metrics as the final network (act_bench.evaluation.bundled_metrics)."""

import sys

from tqdm import tqdm

from act_bench.data.kinds import BUNDLED_KINDS
from act_bench.evaluation.bundled_metrics import evaluate, metrics_for
from act_bench.training.sampling import sample
from act_bench.runtime.snapshots import snapshot_files


def skip_reason(kind, snapshots):
    if not snapshots:
        return 'no snapshots: train.snapshot_every is null for this run'
    if kind not in BUNDLED_KINDS:
        return (f'the metric over training is only evaluated on bundled data; {kind} would need Inception FID '
                'per snapshot, which this rule does not compute')
    return None


def metric_curve(config, run, run_dir, data, classifier, load_generator, log=print):
    """{'records': [...], 'skipped': reason or None}; records carry step, images_seen and train_seconds."""
    kind = config['datasets'][run.dataset]['kind']
    snapshots = snapshot_files(run_dir)
    reason = skip_reason(kind, snapshots)
    if reason:
        log(f'metric curve of {run.path} skipped: {reason}')
        return {'records': [], 'skipped': reason}
    metrics = metrics_for(kind, classifier)
    ev = config['evaluation']
    records = []
    for path in tqdm(snapshots, desc=f'metric curve {run.method} {run.dataset} b{run.batch_size}', mininterval=5,
                     file=sys.stderr):
        net, state = load_generator(config, run, path)
        generated = sample(net, tuple(state['shape']), n=ev['curve_samples'], batch_size=ev['batch_size'],
                           clip=kind != 'toy2d', seed=10_000 + run.seed, num_classes=state.get('num_classes'))
        for r in evaluate(metrics, {'1-step': generated.numpy()}, data['eval'], f'{run.dataset} held-out split',
                          state['network']):
            records.append({'step': state['step'], 'images_seen': state['images_seen'],
                            'train_seconds': state['train_seconds'], **r})
        log(f"step {state['step']}: " + ', '.join(f"{r['metric']} {r['value']:.4g}" for r in records[-len(metrics):]))
    return {'records': records, 'skipped': None}
