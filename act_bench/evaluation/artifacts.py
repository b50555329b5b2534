"""Artifacts that know their run: each stage's output records the run and train digest that produced it
(act_bench.settings.artifact_identity), and each reader refuses a damaged or foreign one with one sentence
naming the file, what is wrong and how it is rewritten."""

import json
import pickle
import zipfile

import numpy as np

from act_bench.runtime.errors import ConfigError
from act_bench.runtime.provenance import code_provenance
from act_bench.training.build import load_generator

IDENTITY_KEY = '_artifact_of'   # in .npz files (a JSON string) and JSON files (an object)
DAMAGED = (RuntimeError, OSError, EOFError, ValueError, KeyError, zipfile.BadZipFile, pickle.UnpicklingError)


def rewrite_hint(rule):
    return f'delete it and rerun snakemake, or rerun with `snakemake --forcerun {rule}`'


def check_identity(found, expected, path, rule):
    """Refuse an artifact written for another run or other settings (`found` None: written before identities)."""
    if found is None or expected is None or found == expected:
        return
    raise ConfigError(f"{path} was written for run {found.get('run')} (train digest {found.get('train_digest')}), "
                      f"not for run {expected['run']} (train digest {expected['train_digest']}); "
                      + rewrite_hint(rule))


def damaged(path, what, rule):
    return ConfigError(f'{path} is truncated or damaged (not a readable {what}); ' + rewrite_hint(rule))


def load_final(config, run, path, expected, device='cpu'):
    """The EMA generator and state of a run's final.pt, checked to be readable and this run's."""
    try:
        net, state = load_generator(config, run, path, device)
    except DAMAGED:
        raise damaged(path, 'torch checkpoint', 'train') from None
    check_identity(state.get('artifact_of'), expected, path, 'train')
    return net, state


def npz_identity(f):
    return json.loads(str(f[IDENTITY_KEY])) if IDENTITY_KEY in f.files else None


def read_npz(path, rule, expected=None):
    """{name: array} of an .npz artifact (identity key left out) and its identity, checked against `expected`."""
    try:
        with np.load(path, allow_pickle=False) as f:
            arrays = {k: f[k] for k in f.files if k != IDENTITY_KEY}
            found = npz_identity(f)
    except DAMAGED:
        raise damaged(path, '.npz archive', rule) from None
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
    if expected is not None:
        check_identity(obj.get(IDENTITY_KEY), expected, path, rule)
    return obj


def metrics_file(records, jobs, identity, evaluation_digest, **extra):
    """metrics.json: every record carries the code, device and settings digests that produced it."""
    provenance = {**code_provenance(), 'device_name': jobs[0]['device_name'] if jobs else None,
                  'evaluation_digest': evaluation_digest, **(identity or {})}
    return {'records': [{**r, 'provenance': provenance} for r in records], 'jobs': jobs, **extra,
            'provenance': provenance, IDENTITY_KEY: identity}


def stamp_final(path, identity):
    """Record in a run's final.pt the run and train digest that produced it (read back by load_final)."""
    import torch

    from act_bench.runtime.checkpoint import atomic_save
    state = torch.load(path, map_location='cpu', weights_only=True)
    atomic_save({**state, 'artifact_of': identity}, path)
