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

from .config import BUNDLED_KINDS
from .errors import DatasetError

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


def prepare_dataset(spec, seed=0):
    """Arrays for one dataset entry of the config: dict(train, eval[, train_labels, eval_labels])."""
    rng = np.random.default_rng(seed)
    if spec['kind'] == 'toy2d':
        sample = TOY2D[spec['distribution']]
        return {'train': sample(spec['n_train'], rng).astype(np.float32),
                'eval': sample(spec['n_eval'], rng).astype(np.float32)}
    images, labels = load_digits_images(spec['resolution'])
    order = rng.permutation(len(images))
    n_eval = int(round(spec['eval_fraction'] * len(images)))
    ev, tr = order[:n_eval], order[n_eval:]
    return {'train': images[tr], 'eval': images[ev], 'train_labels': labels[tr], 'eval_labels': labels[ev]}


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

class BatchSampler:
    """Uniform random minibatches (images, labels or None) from an in-memory array, with its own
    checkpointable RNG."""

    def __init__(self, data, seed, device='cpu'):
        self.data = torch.as_tensor(data).to(device)
        self.generator = torch.Generator().manual_seed(seed)

    def __call__(self, batch, keep=None):
        """`batch` random rows; with `keep` (positions within them), only those rows."""
        index = torch.randint(len(self.data), (batch,), generator=self.generator)
        if keep is not None:
            index = index[keep]
        return self.data[index.to(self.data.device)], None

    def state_dict(self):
        return {'rng': self.generator.get_state()}

    def load_state_dict(self, state):
        self.generator.set_state(state['rng'])


class DatasetSampler:
    """Random minibatches (images, labels) from a map-style dataset of (image, label) items.

    The indices (and flips) of batch k depend only on (seed, k), so a resumed run draws exactly
    the batches the uninterrupted run would have drawn. Labels are returned only for
    class-conditional datasets (`dataset.num_classes`)."""

    def __init__(self, dataset, seed, device='cpu', random_flip=False):
        self.dataset, self.seed, self.device, self.random_flip = dataset, seed, device, random_flip
        self.batches_drawn = 0

    def __call__(self, batch, keep=None):
        """`batch` random items; with `keep` (positions within them), only those items are loaded."""
        images, labels = self.draw(self.batches_drawn, batch, keep)
        self.batches_drawn += 1
        return images.to(self.device), (labels.to(self.device) if labels is not None else None)

    def draw(self, k, batch, keep=None):
        """Batch number k on the CPU; a pure function of (seed, k, keep), so it can be drawn ahead."""
        generator = torch.Generator().manual_seed(self.seed * 1_000_003 + k)
        index = torch.randint(len(self.dataset), (batch,), generator=generator)
        flip = torch.rand(batch, generator=generator) < 0.5 if self.random_flip else None
        if keep is not None:
            index, flip = index[keep], (flip[keep] if flip is not None else None)
        items = [self.dataset[i] for i in index.tolist()]
        images = torch.stack([torch.as_tensor(x) for x, _ in items])
        if flip is not None:
            images = torch.where(flip[:, None, None, None], images.flip(3), images)
        labels = torch.tensor([int(y) for _, y in items]) if getattr(self.dataset, 'num_classes', None) else None
        return images, labels

    def state_dict(self):
        return {'batches_drawn': self.batches_drawn}

    def load_state_dict(self, state):
        self.batches_drawn = int(state['batches_drawn'])

#----------------------------------------------------------------------------
# Bundled arrays and paper datasets behind one entry point.

PAPER_SHAPES = {'cifar10': (3, 32, 32), 'imagenet64': (3, 64, 64)}


def dataset_info(spec):
    """(sample shape, number of classes or None) of a config's dataset entry, without loading it."""
    if spec['kind'] == 'toy2d':
        return (2,), None
    if spec['kind'] == 'digits':
        return (1, spec['resolution'], spec['resolution']), None
    shape = PAPER_SHAPES.get(spec['kind'], (3, spec.get('resolution'), spec.get('resolution')))
    return shape, 1000 if spec['kind'] == 'imagenet64' else None


def load_training_data(spec, data_path=None):
    """Bundled data: the training array of the prepared .npz. Paper datasets: a map-style dataset of
    (image, label) items (`data_path` is the converted folder for imagenet64)."""
    if spec['kind'] in BUNDLED_KINDS:
        return torch.from_numpy(load_dataset(data_path)['train'])
    from .datasets import open_dataset
    return open_dataset(spec, path=data_path)
