"""Checkpoints: atomic writes, the last two kept, resume from the newest one that loads."""

import errno
import json
import os
import sys
from pathlib import Path

import torch

KEEP = 2


class DiskFull(RuntimeError):
    """No space left while writing a file; the previous files are untouched."""


def atomic_save(obj, path):
    """Write to a temporary file beside `path`, then rename: a crash never leaves a half-written file.
    torch.save writes through a Python file so that a full disk raises OSError(ENOSPC), not an opaque
    error of torch's zip writer."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + '.tmp')
    try:
        with open(tmp, 'wb') as f:
            torch.save(obj, f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except OSError as e:
        if e.errno not in (errno.ENOSPC, errno.EDQUOT):
            raise
        raise DiskFull(f'the disk is full: {path} could not be written (any earlier version of it is '
                       'unchanged); free some space and run the same command again') from None
    finally:
        tmp.unlink(missing_ok=True)


def checkpoint_files(directory):
    return sorted(Path(directory).glob('ckpt-*.pt'))


def save_rotating(directory, training):
    """Write the checkpoint of this step, then delete all but the newest KEEP; on a full disk the
    older checkpoints stay and the error names the one a rerun resumes from."""
    path = Path(directory) / f'ckpt-{training.step:09d}.pt'
    try:
        atomic_save(training.state_dict(), path)
    except DiskFull:
        kept = [f for f in checkpoint_files(directory) if f != path]
        survivor = f'{kept[-1]} is kept and a rerun resumes from it' if kept else 'no earlier checkpoint exists'
        raise DiskFull(f'the disk is full: checkpoint {path.name} could not be written; {survivor} once '
                       'space is freed') from None
    for old in checkpoint_files(directory)[:-KEEP]:
        old.unlink()


def load_latest(directory, training):
    """Load the newest readable checkpoint into `training`; return its step, or None for a fresh start."""
    files = checkpoint_files(directory)
    failed = []
    for path in reversed(files):
        try:
            state = torch.load(path, map_location=training.device, weights_only=True)
            training.load_state_dict(state)
        except Exception as e:  # a truncated or corrupt file: fall back to the previous one
            failed.append((path, type(e).__name__))
            continue
        for bad, error in failed:
            print(f'warning: checkpoint {bad} cannot be loaded ({error}); resumed from {path.name}', file=sys.stderr)
        return training.step
    if files:
        reasons = ', '.join(f'{bad.name}: {error}' for bad, error in failed)
        raise RuntimeError(f'no checkpoint in {directory} can be loaded ({reasons}); move that directory away to '
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
