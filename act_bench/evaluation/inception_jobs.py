"""The Inception FID / IS jobs of image datasets, as the workflow's rules run them: reference statistics
per dataset and mode, one feature shard of a run's samples, a run's metrics.json merged from its shards,
and the data floor (reference/<dataset>.json)."""

import time

import numpy as np
import torch

from act_bench.evaluation.inception import (accumulate, build_extractor, dataset_batches, dataset_size, load_shards,
                                            records, sample_shard, save_shard, write_reference_statistics)
from act_bench.evaluation.artifacts import load_final, metrics_file
from act_bench.runtime.errors import ConfigError
from act_bench.runtime.jobs import job_record, write_json
from act_bench.settings import artifact_identity, evaluation_identity
from act_bench.training.sampling import sample_seed


def write_fid_reference(config, dataset, mode, data_path, out, device):
    """Reference statistics of `dataset` in the config's FID mode (asked for as `mode`, the output's wildcard)."""
    if mode != config['evaluation']['fid']['mode']:
        raise ConfigError(f"reference statistics for mode {mode} were asked for, but evaluation.fid.mode is "
                          f"{config['evaluation']['fid']['mode']}")
    return write_reference_statistics(config, dataset, out, data_path, device)


def write_fid_shard(config, run, final_path, shard, out, device):
    """One shard of a run's samples through Inception: feature and IS statistics, the job's record."""
    start = time.perf_counter()
    net, state = load_final(config, run, final_path, artifact_identity(config, run), device)
    stats, meta, grid = sample_shard(config, net, tuple(state['shape']), state.get('num_classes'),
                                     sample_seed(run.seed), shard, device)
    meta['job'] = job_record('sample_features', time.perf_counter() - start, device, shard=shard)
    meta['network'] = state['network']
    meta['artifact_of'] = evaluation_identity(config, run)
    save_shard(out, stats, meta, grid)


def write_fid_metrics(config, run, shard_paths, reference, out):
    """metrics.json of a run: FID and IS per sampler from its merged feature shards (each checked to be readable
    and this run's, under its current settings), and every job's record."""
    start = time.perf_counter()
    identity = evaluation_identity(config, run)
    merged, metas = load_shards(shard_paths, identity)
    out_records = []
    for sampler, stats in merged.items():
        out_records += records(stats, reference, sampler, metas[0]['feature_extractor'], metas[0]['mode'],
                               metas[0]['network'])
    jobs = [m['job'] for m in metas] + [job_record('evaluate_fid', time.perf_counter() - start, torch.device('cpu'))]
    write_json(metrics_file(out_records, jobs, identity, dataset=run.dataset, config=config['name']), out)


def write_reference_fid(config, dataset, data_path, reference, out, device):
    """The data floor of an image dataset: FID and IS of n_samples training images vs the reference statistics."""
    spec, ev = config['datasets'][dataset], config['evaluation']
    size = dataset_size(spec, data_path)
    n = min(ev['n_samples'], size)
    indices = np.sort(np.random.default_rng(0).permutation(size)[:n])
    extractor = build_extractor(config, device, progress=True)
    stats = accumulate(extractor, dataset_batches(spec, indices, ev['fid']['batch_size'], data_path), n,
                       min(ev['fid']['is_splits'], n))
    out_records = records(stats, reference, 'training data', extractor.name, ev['fid']['mode'])
    write_json({'dataset': dataset, 'records': out_records}, out)
