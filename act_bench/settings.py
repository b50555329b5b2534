"""A run's resolved settings and their digests: what its training and its evaluation depend on. The
workflow gives the digests to the rules as params, so Snakemake's params trigger reruns exactly the jobs
whose settings changed; the evaluation jobs write them to the run's run.yaml. The evaluated network
(evaluation.network) is an evaluation setting: final.pt and the snapshots hold all three networks."""

import hashlib
import json

import yaml

from act_bench.data.kinds import kind_of
from act_bench.methods import METHOD_TRAITS

DIGEST_LENGTH = 12   # hex digits of sha256
EVALUATION_OF_IMAGES = ('n_samples', 'batch_size', 'two_step_sigma', 'curve_samples', 'fid')
EVALUATION_OF_BUNDLED = ('n_samples', 'batch_size', 'two_step_sigma', 'curve_samples', 'classifier')
NOT_TRAINING = ('fid_reference', 'paper', 'download')   # dataset keys only evaluation or the reports use
# what only a method with a discriminator (ACT) reads: a CT run's digest leaves these out
DISCRIMINATOR_TRAIN = ('lambda_adv', 'w_mid', 'r1_gamma', 'r1_interval', 'd_lr', 'd_betas', 'augment_pipeline',
                       'aug_threshold', 'aug_ema_decay', 'ada_length')
DISCRIMINATOR_MODEL = ('disc_channels', 'disc_layers_per_block', 'discriminator')


def _without(values, keys):
    return {k: v for k, v in values.items() if k not in keys}


def _dataset(config, dataset, leave_out):
    return _without(config['datasets'][dataset], leave_out)


def digest(values):
    """12 hex digits of the sha256 of the canonical JSON of `values`."""
    text = json.dumps(values, sort_keys=True, separators=(',', ':'), default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:DIGEST_LENGTH]


def train_settings(config, run):
    """Everything a run's training depends on: its identity, dataset and model specs and train settings (for a
    method without a discriminator, without the discriminator's)."""
    unused = () if METHOD_TRAITS[run.method].has_discriminator else DISCRIMINATOR_TRAIN + DISCRIMINATOR_MODEL
    return {'method': run.method, 'batch_size': run.batch_size, 'augment': run.augment, 'seed': run.seed,
            'dataset': _dataset(config, run.dataset, NOT_TRAINING),
            'model': _without(config['models'][run.model], unused), 'train': _without(run.train, unused),
            'gpus': config['resources']['train']['gpus']}


def evaluation_settings(config, dataset):
    """The evaluation settings that affect a dataset's metrics (and its dataset spec): those of its reference
    statistics and data floor."""
    keys = EVALUATION_OF_BUNDLED if kind_of(config['datasets'][dataset]).bundled else EVALUATION_OF_IMAGES
    return {'dataset': _dataset(config, dataset, ('paper',)), **{key: config['evaluation'][key] for key in keys}}


def run_evaluation_settings(config, run):
    """What a run's samples, feature shards, metrics and metric curve depend on besides its training: its
    dataset's evaluation settings and the network evaluated (evaluation.network / a block's evaluation_network)."""
    return {**evaluation_settings(config, run.dataset), 'network': run.network}


def data_digest(config, dataset):
    """Of a dataset's spec: what its prepared data depend on."""
    return digest(config['datasets'][dataset])


def classifier_digest(config, dataset):
    """Of what the digits feature extractor depends on."""
    return digest({'dataset': config['datasets'][dataset], 'classifier': config['evaluation']['classifier']})


def train_digest(config, run):
    return digest(train_settings(config, run))


def evaluation_digest(config, dataset):
    return digest(evaluation_settings(config, dataset))


def run_evaluation_digest(config, run):
    return digest(run_evaluation_settings(config, run))


def artifact_identity(config, run):
    """What an artifact of a run's training (final.pt) or model (params.json) records about the run that produced it."""
    return {'run': run.path, 'train_digest': train_digest(config, run)}


def evaluation_identity(config, run):
    """What an artifact of a run's evaluation (samples.npz, feature shards, metrics.json) records: also the
    run's evaluation digest."""
    return {**artifact_identity(config, run), 'evaluation_digest': run_evaluation_digest(config, run)}


def run_settings(config, run):
    """run.yaml: the run's identity, its resolved train and evaluation settings and their digests."""
    return {'config': config['name'], 'variant': run.variant, 'run': run.path,
            'train_digest': train_digest(config, run), 'evaluation_digest': run_evaluation_digest(config, run),
            'train_settings': train_settings(config, run),
            'evaluation_settings': run_evaluation_settings(config, run)}


def write_yaml(values, path):
    with open(path, 'w') as f:
        yaml.safe_dump(values, f, sort_keys=False)


def write_run_settings(config, run, path):
    write_yaml(run_settings(config, run), path)
