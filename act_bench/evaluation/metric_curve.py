"""The metric over training: the run's EMA snapshots (act_bench.runtime.snapshots), each sampled one-step
and scored with the same metrics as the final network (act_bench.evaluation.bundled_metrics)."""

import sys
from pathlib import Path

from tqdm import tqdm

from act_bench import layout
from act_bench.data.bundled import load_dataset
from act_bench.data.kinds import kind_of
from act_bench.evaluation.bundled_jobs import check_classifier
from act_bench.evaluation.bundled_metrics import evaluate, metrics_for
from act_bench.runtime.jobs import write_json
from act_bench.runtime.snapshots import snapshot_files
from act_bench.training.build import load_generator
from act_bench.training.sampling import sample, sample_seed


def skip_reason(kind, snapshots):
    if not snapshots:
        return 'no snapshots: train.snapshot_every is null for this run'
    if not kind_of(kind).bundled:
        return (f'the metric over training is only evaluated on bundled data; {kind} would need Inception FID '
                'per snapshot, which this rule does not compute')
    return None


def metric_curve(config, run, run_dir, data, classifier, load_generator, log=print):
    """{'records': [...], 'skipped': reason or None}; records carry step, images_seen and train_seconds."""
    kind = config['datasets'][run.dataset]['kind']
    snapshots = snapshot_files(Path(run_dir) / layout.SNAPSHOTS)
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
                           clip=kind_of(kind).clip is not None, seed=sample_seed(run.seed),
                           num_classes=state.get('num_classes'))
        for r in evaluate(metrics, {'1-step': generated.numpy()}, data['eval'], f'{run.dataset} held-out split',
                          state['network']):
            records.append({'step': state['step'], 'images_seen': state['images_seen'],
                            'train_seconds': state['train_seconds'], **r})
        log(f"step {state['step']}: " + ', '.join(f"{r['metric']} {r['value']:.4g}" for r in records[-len(metrics):]))
    return {'records': records, 'skipped': None}


def write_metric_curve(config, run, run_dir, data_path, classifier, out):
    """metric_curve.json of a run: its wildcards and metric_curve(...)."""
    data = load_dataset(data_path) if data_path and data_path.endswith('.npz') else None
    check_classifier(config['datasets'][run.dataset], run.dataset, classifier)
    write_json({**run.wildcards, **metric_curve(config, run, run_dir, data, classifier, load_generator)}, out)
