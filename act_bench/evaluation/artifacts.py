"""Artifacts that know their run: each stage's output records the run and settings digests that produced it
(act_bench.settings.artifact_identity for final.pt and params.json, evaluation_identity for samples.npz,
feature shards and metrics.json), and each reader refuses a damaged or foreign one with one sentence naming
the file, what is wrong and the rule that rewrites it."""

import json
import pickle
import zipfile
from contextlib import contextmanager

import numpy as np

from act_bench.data.kinds import kind_of
from act_bench.runtime.errors import ConfigError
from act_bench.runtime.provenance import code_provenance
from act_bench.training.build import load_generator

IDENTITY_KEY = '_artifact_of'   # in .npz files (a JSON string) and JSON files (an object)
DAMAGED = (RuntimeError, OSError, EOFError, ValueError, KeyError, zipfile.BadZipFile, pickle.UnpicklingError)
CLEAR = (ConfigError, FileNotFoundError)   # of DAMAGED, those that already say what is wrong: raised as they are


def rewrite_hint(rule):
    return f'delete it and rerun snakemake, or rerun with `snakemake --forcerun {rule}`'


def rule_writing(config, dataset, image_rule):
    """The workflow rule that writes a run's metrics.json or params.json: `postprocess` for a bundled dataset
    (one job writes samples.npz, metrics.json and params.json), else `image_rule`."""
    return 'postprocess' if kind_of(config['datasets'][dataset]).bundled else image_rule


def describe_identity(identity):
    """'run R (train digest T[, evaluation digest E])'."""
    digests = [f"train digest {identity.get('train_digest')}"]
    if 'evaluation_digest' in identity:
        digests.append(f"evaluation digest {identity['evaluation_digest']}")
    return f"run {identity.get('run')} ({', '.join(digests)})"


def check_identity(found, expected, path, rule):
    """Refuse an artifact written for another run or other settings (`found` None: written before identities)."""
    if found is None or expected is None or found == expected:
        return
    found = found if isinstance(found, dict) else {}   # an identity that is no record: of no run
    raise ConfigError(f'{path} was written for {describe_identity(found)}, not for {describe_identity(expected)}; '
                      + rewrite_hint(rule))


def damaged(path, what, rule):
    return ConfigError(f'{path} is truncated or damaged (not a readable {what}); ' + rewrite_hint(rule))


@contextmanager
def reading(path, what, rule):
    """Turns a reader's DAMAGED errors into the one sentence of `damaged`; CLEAR ones pass as they are."""
    try:
        yield
    except CLEAR:
        raise
    except DAMAGED:
        raise damaged(path, what, rule) from None


def load_final(config, run, path, expected, device='cpu'):
    """The evaluated generator (run.network) and state of a run's final.pt, checked to be readable and of this
    run's training (`expected`: artifact_identity, which the evaluated network is no part of)."""
    with reading(path, 'torch checkpoint', 'train'):
        net, state = load_generator(config, run, path, device)
    check_identity(state.get('artifact_of'), expected, path, 'train')
    return net, state


def npz_identity(f):
    return json.loads(str(f[IDENTITY_KEY])) if IDENTITY_KEY in f.files else None


def read_npz(path, rule, expected=None):
    """{name: array} of an .npz artifact (identity key left out) and its identity, checked against `expected`."""
    with reading(path, '.npz archive', rule), np.load(path, allow_pickle=False) as f:
        arrays = {k: f[k] for k in f.files if k != IDENTITY_KEY}
        found = npz_identity(f)
    if expected is not None:
        check_identity(found, expected, path, rule)
    return arrays, found


def read_json(path, rule, expected=None):
    """A JSON artifact, checked to be readable and (with `expected`) this run's."""
    try:
        with open(path) as f:
            obj = json.load(f)
    except (ValueError, UnicodeDecodeError):
        raise damaged(path, 'JSON file', rule) from None
    if not isinstance(obj, dict):
        raise damaged(path, 'JSON object', rule)
    if expected is not None:
        check_identity(obj.get(IDENTITY_KEY), expected, path, rule)
    return obj


def metrics_file(records, jobs, identity, **extra):
    """metrics.json: every record carries the code, device, run and settings digests (evaluation_identity)
    that produced it."""
    provenance = {**code_provenance(), 'device_name': jobs[0]['device_name'] if jobs else None, **(identity or {})}
    return {'records': [{**r, 'provenance': provenance} for r in records], 'jobs': jobs, **extra,
            'provenance': provenance, IDENTITY_KEY: identity}


def stamp_final(path, identity):
    """Record in a run's final.pt the run and train digest that produced it (read back by load_final)."""
    import torch

    from act_bench.runtime.checkpoint import atomic_save
    state = torch.load(path, map_location='cpu', weights_only=True)
    atomic_save({**state, 'artifact_of': identity}, path)
