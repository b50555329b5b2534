"""Bundled datasets: generated 2-D toy distributions and scikit-learn's 8×8 digits.

`prepare_dataset` writes one `.npz` with `train` and `eval` arrays (float32); nothing is
downloaded. Training draws batches with `BatchSampler`, whose RNG is part of the
checkpointed training state.
"""

import zipfile
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from act_bench.data.kinds import kind_of
from act_bench.runtime.errors import DatasetError

#----------------------------------------------------------------------------
# toy2d distributions, scaled so that each coordinate has a spread comparable to σ_data = 0.5.

def eight_gaussians(n, rng):
    angles = rng.integers(0, 8, n) * (2 * np.pi / 8)
    centers = np.stack([np.cos(angles), np.sin(angles)], axis=1)
    return centers + 0.05 * rng.standard_normal((n, 2))


def swiss_roll(n, rng):
    t = 1.5 * np.pi * (1 + 2 * rng.random(n))
    x = np.stack([t * np.cos(t), t * np.sin(t)], axis=1) / 10.0
    return x + 0.02 * rng.standard_normal((n, 2))


def checkerboard(n, rng):
    x1 = rng.random(n) * 4 - 2
    x2 = rng.random(n) - rng.integers(0, 2, n) * 2
    x2 = x2 + (np.floor(x1) % 2)
    return np.stack([x1, x2], axis=1) / 2.0


TOY2D = {'eight_gaussians': eight_gaussians, 'swiss_roll': swiss_roll, 'checkerboard': checkerboard}

#----------------------------------------------------------------------------

def load_digits_images(resolution):
    """scikit-learn's 1,797 8×8 digits, bilinearly resized and scaled to [−1, 1]: (N, 1, R, R), labels."""
    from sklearn.datasets import load_digits
    bunch = load_digits()
    x = torch.from_numpy(bunch.images.astype(np.float32) / 16.0)[:, None]
    if resolution != 8:
        x = F.interpolate(x, size=(resolution, resolution), mode='bilinear', align_corners=False)
    return (x.clamp(0, 1) * 2 - 1).numpy(), bunch.target.astype(np.int64)


def toy2d_arrays(spec, rng):
    sample = TOY2D[spec['distribution']]
    return {'train': sample(spec['n_train'], rng).astype(np.float32),
            'eval': sample(spec['n_eval'], rng).astype(np.float32)}


def digits_arrays(spec, rng):
    images, labels = load_digits_images(spec['resolution'])
    order = rng.permutation(len(images))
    n_eval = int(round(spec['eval_fraction'] * len(images)))
    ev, tr = order[:n_eval], order[n_eval:]
    return {'train': images[tr], 'eval': images[ev], 'train_labels': labels[tr], 'eval_labels': labels[ev]}


PREPARE = {'toy2d': toy2d_arrays, 'digits': digits_arrays}   # per bundled kind


def prepare_dataset(spec, seed=0):
    """Arrays for one dataset entry of the config: dict(train, eval[, train_labels, eval_labels])."""
    return PREPARE[spec['kind']](spec, np.random.default_rng(seed))


def save_dataset(arrays, path):
    np.savez(path, **arrays)


def load_dataset(path):
    """The arrays of a prepared .npz; a missing or malformed file is a one-sentence DatasetError."""
    if path is None or not Path(path).is_file():
        raise DatasetError(f'the prepared data file {path} does not exist; write it with "act-bench prepare-data" '
                           '(the workflow\'s prepare_data rule)')
    try:
        with np.load(path, allow_pickle=False) as f:
            arrays = {k: f[k] for k in f.files}
    except (OSError, ValueError, zipfile.BadZipFile, EOFError) as e:
        raise DatasetError(f'{path} is not a readable .npz of prepared data ({type(e).__name__}); delete it '
                           'and write it again with "act-bench prepare-data"') from None
    missing = {'train', 'eval'} - set(arrays)
    if missing:
        raise DatasetError(f'{path} lacks the arrays {sorted(missing)} of prepared data; delete it and write it '
                           'again with "act-bench prepare-data"')
    return arrays

#----------------------------------------------------------------------------


#----------------------------------------------------------------------------
# Bundled arrays and paper datasets behind one entry point.

def dataset_info(spec):
    """(sample shape, number of classes or None) of a config's dataset entry, without loading it."""
    kind = kind_of(spec)
    return kind.sample_shape(spec), kind.num_classes


def load_training_data(spec, data_path=None):
    """Bundled data: the training array of the prepared .npz. Paper datasets: a map-style dataset of
    (image, label) items (`data_path` is the converted folder for imagenet64)."""
    if kind_of(spec).bundled:
        return torch.from_numpy(load_dataset(data_path)['train'])
    from act_bench.data.images import open_dataset
    return open_dataset(spec, path=data_path)
