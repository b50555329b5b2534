"""Checkpoints: atomic writes, the last two kept, resume from the newest one that loads."""

import json
import os
import sys
from pathlib import Path

import torch

KEEP = 2


def atomic_save(obj, path):
    """Write to a temporary file beside `path`, then rename: a crash never leaves a half-written file."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + '.tmp')
    try:
        torch.save(obj, tmp)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def checkpoint_files(directory):
    return sorted(Path(directory).glob('ckpt-*.pt'))


def save_rotating(directory, training):
    atomic_save(training.state_dict(), Path(directory) / f'ckpt-{training.step:09d}.pt')
    for old in checkpoint_files(directory)[:-KEEP]:
        old.unlink()


def load_latest(directory, training):
    """Load the newest readable checkpoint into `training`; return its step, or None for a fresh start."""
    files = checkpoint_files(directory)
    for path in reversed(files):
        try:
            state = torch.load(path, map_location=training.device, weights_only=True)
            training.load_state_dict(state)
        except Exception as e:  # a truncated or corrupt file: fall back to the previous one
            print(f'warning: checkpoint {path} cannot be loaded ({type(e).__name__}); trying an older one',
                  file=sys.stderr)
            continue
        return training.step
    if files:
        raise RuntimeError(f'no checkpoint in {directory} can be loaded; move that directory away to '
                           'train this run from scratch')
    return None


def _complete_records(text):
    """JSON records of every complete line; a kill -9 mid-write can leave a torn last line."""
    records = []
    for line in text.splitlines():
        try:
            records.append(json.loads(line))
        except json.JSONDecodeError:
            continue
    return records


def truncate_log(path, step):
    """Drop log records written after `step` (by an attempt that died before its next checkpoint);
    return the largest `wall_seconds` the log reached, dropped records included (0 without a log)."""
    path = Path(path)
    if not path.exists():
        return 0.0
    records = _complete_records(path.read_text())
    path.write_text(''.join(json.dumps(r) + '\n' for r in records if r['step'] <= step))
    return max((r['wall_seconds'] for r in records), default=0.0)
