"""Small snapshots saved during training (every `train.snapshot_every` steps) for the metric-over-training
curve; each holds, like final.pt, all three generator networks (so the evaluated one, evaluation.network, is an
evaluation setting, not a training one) and loads like final.pt (act_bench.training.build.load_generator)."""

import time
from pathlib import Path

from act_bench.runtime import checkpoint as ckpt

# evaluation.network → the Training attribute holding it, which is also its key in final.pt and snapshots
NETWORK_KEYS = {'online': 'net', 'target': 'target', 'ema': 'ema'}


def generator_weights(training, networks):
    """{key: state dict} of the named generator networks (names of NETWORK_KEYS)."""
    return {NETWORK_KEYS[name]: getattr(training, NETWORK_KEYS[name]).state_dict() for name in networks}


def snapshot_files(snapshot_dir):
    return sorted(Path(snapshot_dir).glob('ema-*.pt'))


def save_snapshot(training, snapshot_dir, start):
    """Write snapshots/ema-<step>.pt with the generator networks; its time is booked with the checkpoints.
    Returns the new start time."""
    now = time.perf_counter()
    training.timers['train_seconds'] += now - start
    ckpt.atomic_save({**generator_weights(training, NETWORK_KEYS), 'shape': list(training.shape),
                      'data_kind': training.kind.name, 'num_classes': training.num_classes,
                      'step': training.step, 'images_seen': training.step * training.run.batch_size,
                      'train_seconds': training.timers['train_seconds']},
                     Path(snapshot_dir) / f'ema-{training.step:09d}.pt')
    after = time.perf_counter()
    training.timers['checkpoint_seconds'] += after - now
    return after
