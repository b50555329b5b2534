"""Inception FID and IS of the image datasets in the workflow (ct-spec §11, ecosystem.md §4).

Sampling jobs each draw a part of the `evaluation.n_samples` samples, pass them batch by batch
through the Inception network and write only sufficient statistics (`InceptionStatistics`: count,
mean and centred scatter of the pool3 features; per IS split, the summed class probabilities and
Σ p·log p); the evaluation job merges them. The merged statistics equal those of one pass over all
samples, so FID and IS do not depend on the number of jobs. Reference statistics are computed once
per dataset and mode from the training set, or imported from an .npz with mu/sigma (guided-diffusion
reference batches). Records say what they are: metric, sampler, value, sample counts, reference set,
feature extractor and mode."""

import json
import sys
from pathlib import Path

import numpy as np
import torch

from act_bench.data.kinds import kind_of
from act_bench.runtime.errors import ConfigError
from act_bench.evaluation.artifacts import check_identity, reading
from act_bench.evaluation.fid import LOGIT_CLASSES, InceptionFeatures, load_statistics, save_statistics
from act_bench.evaluation.frechet import frechet_distance

GRID_IMAGES = 8       # one-step images kept by shard 0 for the report's sample grid


def _softmax(logits):
    from scipy.special import softmax
    return softmax(np.asarray(logits, np.float64), axis=1)


class InceptionStatistics:
    """Mergeable statistics of the features and IS probabilities of samples 0 .. n_total−1 (or a part)."""

    def __init__(self, n_total, splits, feature_dim=2048, classes=LOGIT_CLASSES):
        if n_total < splits:
            raise ValueError(f'{n_total} samples cannot be cut into {splits} IS splits')
        self.n_total, self.splits = int(n_total), int(splits)
        self.count, self.mean, self.scatter = 0, np.zeros(feature_dim), np.zeros((feature_dim, feature_dim))
        self.split_count = np.zeros(splits, np.int64)
        self.split_psum, self.split_plogp = np.zeros((splits, classes)), np.zeros(splits)

    def _merge_moments(self, n, mean, scatter):
        """Chan et al.'s pairwise update of (count, mean, Σ (x−mean)(x−mean)ᵀ)."""
        if n == 0:
            return
        total = self.count + n
        delta = mean - self.mean
        self.scatter += scatter + np.outer(delta, delta) * (self.count * n / total)
        self.mean += delta * (n / total)
        self.count = total

    def add(self, features, logits, start):
        """Features (B, D) and IS logits (B, K) of the samples with stream indices start .. start+B−1.
        IS split s holds the samples s·n//splits .. (s+1)·n//splits − 1, as `fid.inception_score` cuts."""
        from scipy.special import xlogy
        f = np.asarray(features, np.float64)
        if len(f) == 0:
            return
        mean = f.mean(0)
        self._merge_moments(len(f), mean, (f - mean).T @ (f - mean))
        p = _softmax(logits)
        bounds = np.arange(self.splits + 1) * self.n_total // self.splits
        split = np.searchsorted(bounds, np.arange(start, start + len(f)), side='right') - 1
        for s in np.unique(split):
            part = p[split == s]
            self.split_count[s] += len(part)
            self.split_psum[s] += part.sum(0)
            self.split_plogp[s] += xlogy(part, part).sum()

    def merge(self, other):
        if (other.n_total, other.splits) != (self.n_total, self.splits):
            raise ValueError(f'cannot merge statistics of {other.n_total} samples in {other.splits} splits into '
                             f'those of {self.n_total} in {self.splits}')
        self._merge_moments(other.count, other.mean, other.scatter)
        self.split_count += other.split_count
        self.split_psum += other.split_psum
        self.split_plogp += other.split_plogp

    def fid_statistics(self):
        """(mu, sigma) with the unbiased covariance, as `fid.feature_statistics` (np.cov)."""
        if self.count < 2:
            raise ValueError(f'FID needs at least 2 samples, the statistics hold {self.count}')
        return self.mean.copy(), self.scatter / (self.count - 1)

    def inception_score(self):
        """(mean, std) over the splits, equal to `fid.inception_score` of all the logits."""
        from scipy.special import xlogy
        if (self.split_count == 0).any():
            raise ValueError(f'IS split(s) {np.flatnonzero(self.split_count == 0).tolist()} hold no samples')
        py = self.split_psum / self.split_count[:, None]
        kl = (self.split_plogp - xlogy(self.split_psum, py).sum(1)) / self.split_count
        scores = np.exp(kl)
        return float(scores.mean()), float(scores.std())

    def arrays(self, prefix):
        return {f'{prefix}{k}': np.asarray(v) for k, v in (
            ('n_total', self.n_total), ('count', self.count), ('mean', self.mean), ('scatter', self.scatter),
            ('split_count', self.split_count), ('split_psum', self.split_psum), ('split_plogp', self.split_plogp))}

    @classmethod
    def from_arrays(cls, data, prefix):
        psum = data[f'{prefix}split_psum']
        stats = cls(int(data[f'{prefix}n_total']), len(psum), len(data[f'{prefix}mean']), psum.shape[1])
        stats.count, stats.mean = int(data[f'{prefix}count']), data[f'{prefix}mean'].astype(np.float64)
        stats.scatter = data[f'{prefix}scatter'].astype(np.float64)
        stats.split_count, stats.split_psum = data[f'{prefix}split_count'], psum.astype(np.float64)
        stats.split_plogp = data[f'{prefix}split_plogp'].astype(np.float64)
        return stats

#----------------------------------------------------------------------------
# The config's extractor and statistics of image batches.

def build_extractor(config, device='cpu', progress=False):
    f = config['evaluation']['fid']
    return InceptionFeatures(f['inception_weights'], mode=f['mode'], device=device, batch_size=f['batch_size'],
                             progress=progress)


def accumulate(extractor, batches, n_total, splits, start=0):
    """InceptionStatistics of an iterable of image batches, the first batch starting at stream index `start`."""
    stats = InceptionStatistics(n_total, splits)
    for images in batches:
        features, logits = extractor.features_and_logits(images)
        stats.add(features, logits, start)
        start += len(features)
    return stats


def _progress(iterable, total, desc):
    from tqdm import tqdm
    return tqdm(iterable, total=total, desc=desc, unit='batch', mininterval=5, file=sys.stderr)


def dataset_batches(spec, indices, batch_size, data_path=None):
    """uint8 batches of the given training images, read through the training pipeline (crop, resize),
    without flips; [−1, 1] floats are rounded back to their integer pixels (no truncation error)."""
    from act_bench.data.images import open_dataset
    dataset = open_dataset(spec, 'train', path=data_path)
    for i in range(0, len(indices), batch_size):
        x = torch.stack([torch.as_tensor(dataset[int(j)][0]) for j in indices[i:i + batch_size]])
        yield ((x + 1) * 127.5).round().clamp(0, 255).to(torch.uint8)


def dataset_size(spec, data_path=None):
    from act_bench.data.images import open_dataset
    return len(open_dataset(spec, 'train', path=data_path))

#----------------------------------------------------------------------------
# Reference statistics: one file per dataset and mode.

def _import_reference(path, dataset, mode):
    """mu/sigma from a configured .npz, checked against the mode."""
    if not Path(path).is_file():
        raise ConfigError(f'the FID reference statistics {path} of dataset {dataset} are missing: put the .npz with '
                          'mu and sigma there (for ImageNet64 and LSUN the reference batch from openai/guided-'
                          f"diffusion's evaluations), or remove datasets.{dataset}.fid_reference to compute them "
                          'from the training set')
    mu, sigma, meta = load_statistics(path)
    their_mode = meta.get('mode', 'legacy_tensorflow')  # files without meta: TF-Inception statistics
    if their_mode != mode:
        raise ConfigError(f'the FID reference statistics {path} are for mode {their_mode}, but evaluation.fid.mode '
                          f'is {mode}; modes must not be mixed')
    n = meta.get('n')
    source = meta.get('source', f'reference batch {Path(path).name}')
    return mu, sigma, {'dataset': dataset, 'mode': mode, 'n': n, 'source': source}


def write_reference_statistics(config, dataset, out, data_path=None, device='cpu'):
    """The reference statistics of `dataset` (FID mode of the config) at `out`: imported from the dataset's
    `fid_reference` .npz, or computed from its training images (all, or `reference_images` of them)."""
    spec, fid = config['datasets'][dataset], config['evaluation']['fid']
    if spec.get('fid_reference'):
        mu, sigma, meta = _import_reference(spec['fid_reference'], dataset, fid['mode'])
    else:
        extractor = build_extractor(config, device)
        size = dataset_size(spec, data_path)
        n = min(fid['reference_images'] or size, size)
        indices = np.arange(size) if n == size else np.sort(np.random.default_rng(0).permutation(size)[:n])
        batches = _progress(dataset_batches(spec, indices, fid['batch_size'], data_path),
                            -(-n // fid['batch_size']), f'reference {dataset}')
        mu, sigma = accumulate(extractor, batches, n, 1).fid_statistics()
        meta = {'dataset': dataset, 'mode': fid['mode'], 'n': int(n),
                'source': f'training set, {n} of {size} images', 'feature_extractor': extractor.source}
    save_statistics(out, mu, sigma, **meta)
    return meta


def reference_description(meta):
    return f"{meta['dataset']} {meta['source']}"

#----------------------------------------------------------------------------
# Records.

def records(stats, reference_path, sampler, extractor_name, mode, network=None):
    """The FID and IS records of one sampler's statistics against the reference statistics file; `network`
    names the generator network sampled (None for data)."""
    mu_ref, sigma_ref, meta = load_statistics(reference_path)
    if meta.get('mode', mode) != mode:
        raise ConfigError(f'the FID reference statistics {reference_path} are for mode {meta["mode"]}, not {mode}')
    mu, sigma = stats.fid_statistics()
    common = {'sampler': sampler, 'n_generated': stats.count, 'feature_extractor': extractor_name, 'mode': mode,
              'network': network}
    is_mean, is_std = stats.inception_score()
    return [{'metric': 'fid', **common, 'value': frechet_distance(mu, sigma, mu_ref, sigma_ref),
             'n_reference': meta.get('n'), 'reference': reference_description(meta)},
            {'metric': 'is', **common, 'value': is_mean, 'std': is_std, 'splits': stats.splits,
             'n_reference': None, 'reference': None}]


def inception_records(config, dataset, images, reference_path, sampler='1-step', device='cpu', network=None):
    """FID and IS records of generated images (N, C, H, W) in [−1, 1] (or uint8) of a config's dataset,
    against reference statistics written by `write_reference_statistics` (or any .npz with mu/sigma), with
    the config's Inception (`evaluation.fid`); `network` names the generator network that drew them. For callers
    outside the workflow, e.g. snapshots over training."""
    if not kind_of(config['datasets'][dataset]).inception_metrics:
        raise ConfigError(f'dataset {dataset} is bundled data: its metrics are act_bench.evaluation.bundled_metrics\', not FID')
    fid = config['evaluation']['fid']
    extractor = build_extractor(config, device)
    stats = accumulate(extractor, [images], len(images), min(fid['is_splits'], len(images)))
    return records(stats, reference_path, sampler, extractor.name, fid['mode'], network)

#----------------------------------------------------------------------------
# Sampling jobs (one shard each) and the evaluation job that merges them.

def shard_range(n, shards, shard):
    if not 0 <= shard < shards:
        raise ConfigError(f'shard {shard} does not exist: evaluation.fid.shards is {shards}')
    return shard * n // shards, (shard + 1) * n // shards


def sample_shard(config, net, shape, num_classes, seed, shard, device):
    """Statistics per sampler of this shard's part of the samples, with a progress bar on stderr."""
    from act_bench.training.sampling import sample_range
    ev, fid = config['evaluation'], config['evaluation']['fid']
    start, end = shard_range(ev['n_samples'], fid['shards'], shard)
    extractor = build_extractor(config, device)
    samplers = ['1-step'] + (['2-step'] if ev['two_step_sigma'] is not None else [])
    stats = {s: InceptionStatistics(ev['n_samples'], fid['is_splits']) for s in samplers}
    stream = sample_range(net.to(device), shape, start, end, ev['batch_size'], seed=seed,
                          mid_sigma=ev['two_step_sigma'], device=device, num_classes=num_classes)
    batches = -(-end // ev['batch_size']) - start // ev['batch_size']
    grid = None   # the first one-step images of the run (shard 0), for the report's sample grid
    for first, batch in _progress(stream, batches, f'samples {start}..{end - 1} + Inception ({fid["mode"]})'):
        if first == 0 and grid is None:
            grid = torch.as_tensor(batch['1-step'][:GRID_IMAGES]).detach().float().cpu().numpy()
        for sampler, images in batch.items():
            features, logits = extractor.features_and_logits(images)
            stats[sampler].add(features, logits, first)
    meta = {'start': start, 'end': end, 'shard': shard, 'shards': fid['shards'], 'mode': fid['mode'],
            'feature_extractor': extractor.name, 'weights': extractor.source, 'samplers': samplers}
    return stats, meta, grid


def save_shard(path, stats, meta, grid=None):
    """A shard's statistics per sampler and its meta; shard 0 also keeps `grid_1step`, a few one-step images."""
    arrays = {k: v for sampler, s in stats.items() for k, v in s.arrays(f'{sampler}.').items()}
    if grid is not None:
        arrays['grid_1step'] = grid
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    with open(path, 'wb') as f:
        np.savez(f, meta=np.array(json.dumps(meta)), **arrays)


def read_shard(path, expected=None):
    """A feature shard's meta and statistics per sampler, checked to be readable and (with `expected`, an
    act_bench.settings.evaluation_identity) the run's."""
    with reading(path, 'feature shard', 'sample_features'), np.load(path, allow_pickle=False) as data:
        meta = json.loads(str(data['meta']))
        stats = {sampler: InceptionStatistics.from_arrays(data, f'{sampler}.') for sampler in meta['samplers']}
    check_identity(meta.get('artifact_of'), expected, path, 'sample_features')
    return meta, stats


def load_shards(paths, expected=None):
    """Merged statistics per sampler, the shards' metas; checks each is readable and the run's (read_shard) and
    that together they cover the samples exactly once."""
    merged, metas = {}, []
    for path in paths:
        meta, stats = read_shard(path, expected)
        for sampler, part in stats.items():
            merged.setdefault(sampler, InceptionStatistics(part.n_total, part.splits)).merge(part)
        metas.append(meta)
    covered = sorted((m['start'], m['end']) for m in metas)
    n_total = next(iter(merged.values())).n_total if merged else 0
    expected_ranges = [shard_range(n_total, metas[0]['shards'], i) for i in range(metas[0]['shards'])] if metas else []
    if not metas or covered != expected_ranges or len({m['mode'] for m in metas}) != 1:
        raise ConfigError(f'the feature shards {", ".join(map(str, paths))} do not cover the {n_total} samples '
                          'exactly once with one mode; rerun their sampling jobs')
    return merged, metas
