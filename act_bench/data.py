"""Bundled datasets: generated 2-D toy distributions and scikit-learn's 8×8 digits.

`prepare_dataset` writes one `.npz` with `train` and `eval` arrays (float32); nothing is
downloaded. Training draws batches with `BatchSampler`, whose RNG is part of the
checkpointed training state.
"""

import numpy as np
import torch
import torch.nn.functional as F

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
    with np.load(path) as f:
        return {k: f[k] for k in f.files}

#----------------------------------------------------------------------------

class BatchSampler:
    """Uniform random minibatches from an in-memory array, with its own checkpointable RNG."""

    def __init__(self, data, seed, device='cpu'):
        self.data = torch.as_tensor(data).to(device)
        self.generator = torch.Generator().manual_seed(seed)

    def __call__(self, batch):
        index = torch.randint(len(self.data), (batch,), generator=self.generator)
        return self.data[index.to(self.data.device)]

    def state_dict(self):
        return {'rng': self.generator.get_state()}

    def load_state_dict(self, state):
        self.generator.set_state(state['rng'])
