"""Minibatch samplers whose state is part of the checkpoint: random rows of an in-memory array, random
items of a map-style dataset, and a prefetching wrapper that draws the next batch in a thread."""

import threading
from concurrent.futures import ThreadPoolExecutor

import torch


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


class PrefetchingSampler:
    """Wraps a DatasetSampler: batch k + 1 is drawn in a background thread while step k runs.
    Batch k depends only on (seed, k), so the batches and the checkpointed state are exactly those
    of the wrapped sampler."""

    def __init__(self, sampler):
        self.sampler = sampler
        self.pin = torch.device(sampler.device).type == 'cuda'
        self.pool = ThreadPoolExecutor(1, thread_name_prefix='act-bench-prefetch')
        self.pending = None   # (batch index, (batch size, kept rows), future)
        self.lock = threading.Lock()

    def draw(self, k, batch, keep=None):
        images, labels = self.sampler.draw(k, batch, keep)
        if self.pin:
            images, labels = images.pin_memory(), (labels.pin_memory() if labels is not None else None)
        return images, labels

    def __call__(self, batch, keep=None):
        """As DatasetSampler's; `keep` (a rank's rows, the same every step) is passed through."""
        k, key = self.sampler.batches_drawn, (batch, None if keep is None else tuple(keep.tolist()))
        with self.lock:
            pending, self.pending = self.pending, None
        future = pending[2] if pending and pending[:2] == (k, key) else self.pool.submit(self.draw, k, batch, keep)
        images, labels = future.result()
        self.sampler.batches_drawn = k + 1
        with self.lock:
            self.pending = (k + 1, key, self.pool.submit(self.draw, k + 1, batch, keep))
        device = self.sampler.device
        return (images.to(device, non_blocking=self.pin),
                labels.to(device, non_blocking=self.pin) if labels is not None else None)

    def state_dict(self):
        return self.sampler.state_dict()

    def load_state_dict(self, state):
        self.sampler.load_state_dict(state)   # a pending batch of another index is simply not used

    def close(self):
        self.pool.shutdown(wait=True, cancel_futures=True)

    def unwrap(self):
        """Stop prefetching; the wrapped sampler, which continues the same stream."""
        self.close()
        return self.sampler


