"""Small EMA snapshots saved during training (every `train.snapshot_every` steps) for the
metric-over-training curve; each loads like final.pt (act_bench.cli.load_generator)."""

import time
from pathlib import Path

from act_bench.runtime import checkpoint as ckpt


def snapshot_files(run_dir):
    return sorted((Path(run_dir) / 'snapshots').glob('ema-*.pt'))


def save_snapshot(training, run_dir, start):
    """Write snapshots/ema-<step>.pt; its time is booked with the checkpoints. Returns the new start time."""
    now = time.perf_counter()
    training.timers['train_seconds'] += now - start
    ckpt.atomic_save({'ema': training.ema.state_dict(), 'shape': list(training.shape),
                      'data_kind': training.kind.name, 'num_classes': training.num_classes,
                      'step': training.step, 'images_seen': training.step * training.run.batch_size,
                      'train_seconds': training.timers['train_seconds']},
                     Path(run_dir) / 'snapshots' / f'ema-{training.step:09d}.pt')
    after = time.perf_counter()
    training.timers['checkpoint_seconds'] += after - now
    return after
