"""The evaluation jobs of bundled datasets, as the workflow's rules run them: a run's samples
(samples.npz), their metrics (metrics.json) and the data floor (reference/<dataset>.json)."""

import json
import time

import numpy as np
import torch

from act_bench.data.bundled import load_dataset
from act_bench.data.kinds import kind_of
from act_bench.evaluation.artifacts import IDENTITY_KEY, load_final, metrics_file, read_npz
from act_bench.evaluation.bundled_metrics import evaluate, metrics_for
from act_bench.runtime.errors import ConfigError
from act_bench.runtime.jobs import job_record, write_json
from act_bench.settings import artifact_identity, evaluation_identity
from act_bench.training.sampling import sample, sample_seed


def write_samples(config, run, final_path, out):
    """One-step (and, with evaluation.two_step_sigma, two-step) samples of the run's evaluated network
    (evaluation.network), with its name and the job's record, as out (.npz)."""
    start = time.perf_counter()
    net, state = load_final(config, run, final_path, artifact_identity(config, run))
    ev = config['evaluation']
    common = dict(n=ev['n_samples'], batch_size=ev['batch_size'], clip=kind_of(state['data_kind']).clip is not None,
                  seed=sample_seed(run.seed), num_classes=state.get('num_classes'))
    samples = {'1-step': sample(net, tuple(state['shape']), **common).numpy()}
    if ev['two_step_sigma'] is not None:
        samples['2-step'] = sample(net, tuple(state['shape']), mid_sigma=ev['two_step_sigma'], **common).numpy()
    job = job_record('sample', time.perf_counter() - start, torch.device('cpu'))
    np.savez(out, _jobs=np.array(json.dumps([job])), _network=np.array(state['network']),
             **{IDENTITY_KEY: np.array(json.dumps(evaluation_identity(config, run)))}, **samples)


def check_classifier(spec, dataset, classifier):
    """A dataset whose metrics need the digits feature extractor has been given one."""
    if kind_of(spec).needs_classifier and not classifier:
        raise ConfigError(f'dataset {dataset} needs --classifier (the digits feature extractor)')


def metric_inputs(spec, dataset, data_path, classifier):
    """The metrics of a bundled dataset and its prepared data."""
    check_classifier(spec, dataset, classifier)
    return metrics_for(spec['kind'], classifier), load_dataset(data_path)


def write_metrics(config, run, samples_path, data_path, classifier, out):
    """metrics.json: the records of a run's samples (checked to be readable and this run's, under its current
    settings) against the held-out split, and the jobs that made them."""
    start = time.perf_counter()
    dataset, identity = run.dataset, evaluation_identity(config, run)
    metrics, data = metric_inputs(config['datasets'][dataset], dataset, data_path, classifier)
    arrays, _ = read_npz(samples_path, 'postprocess', identity)
    samples = {k: v for k, v in arrays.items() if not k.startswith('_')}
    jobs = json.loads(str(arrays['_jobs'])) if '_jobs' in arrays else []
    records = evaluate(metrics, samples, data['eval'], f'{dataset} held-out split', str(arrays['_network']))
    job = job_record('evaluate', time.perf_counter() - start, torch.device('cpu'))
    write_json(metrics_file(records, jobs + [job], identity), out)



def write_reference_metrics(config, dataset, data_path, classifier, out):
    """The data floor: the same metrics between a training subsample and the held-out split."""
    metrics, data = metric_inputs(config['datasets'][dataset], dataset, data_path, classifier)
    n = min(config['evaluation']['n_samples'], len(data['train']))
    subset = data['train'][np.random.default_rng(0).permutation(len(data['train']))[:n]]
    records = evaluate(metrics, {'training data': subset}, data['eval'], f'{dataset} held-out split')
    write_json({'dataset': dataset, 'records': records}, out)
