"""The papers' reported numbers (act_bench/report/paper_numbers.yaml, shipped as package data): loading,
validation, and which paper entry a config's dataset is compared with."""

import functools
from pathlib import Path

import jsonschema
import yaml

from act_bench.data.kinds import kind_of

PAPER_NUMBERS_PATH = Path(__file__).with_name('paper_numbers.yaml')

VALUE_SCHEMA = {
    'type': 'object', 'additionalProperties': False, 'required': ['value', 'source', 'where', 'confidence'],
    'properties': {'value': {'type': ['number', 'string']}, 'source': {'type': 'string'},
                   'where': {'type': 'string'}, 'confidence': {'enum': ['paper', 'unverified', 'code']}},
}
QUANTITIES = ('fid_1step', 'fid_2step', 'is_1step', 'is_2step', 'params_inference_total', 'params_training_total',
              'batch_size', 'iterations', 'gpus', 'gpu_type')
SCHEMA = {
    'type': 'object', 'additionalProperties': False, 'required': ['version', 'sources', 'datasets'],
    'properties': {
        'version': {'type': 'integer', 'minimum': 1},
        'sources': {'type': 'object', 'additionalProperties': {'type': 'string'}},
        'datasets': {'type': 'object', 'additionalProperties': {
            'type': 'object', 'additionalProperties': False, 'required': ['title', 'metric', 'variants'],
            'properties': {
                'title': {'type': 'string'}, 'metric': {'type': 'string'},
                'variants': {'type': 'object', 'propertyNames': {'enum': ['CT', 'ACT', 'ACT-Aug']},
                             'additionalProperties': {'type': 'object', 'additionalProperties': False,
                                                      'properties': {q: VALUE_SCHEMA for q in QUANTITIES}}}}}},
    },
}


class PaperNumbersError(ValueError):
    """The shipped paper-numbers file is missing or malformed."""


@functools.cache
def load_paper_numbers(path=PAPER_NUMBERS_PATH):
    path = Path(path)
    if not path.is_file():
        raise PaperNumbersError(f'the paper numbers file {path} is missing; reinstall act-bench ("pip install -e .")')
    numbers = yaml.safe_load(path.read_text())
    error = jsonschema.exceptions.best_match(jsonschema.Draft202012Validator(SCHEMA).iter_errors(numbers))
    if error is not None:
        where = '.'.join(str(p) for p in error.absolute_path) or 'the top level'
        raise PaperNumbersError(f'{path}: {where}: {error.message}')
    for name, entry in numbers['datasets'].items():
        for variant, values in entry['variants'].items():
            for quantity, v in values.items():
                if v['source'] not in numbers['sources']:
                    raise PaperNumbersError(f"{path}: {name}.{variant}.{quantity} cites unknown source '{v['source']}'")
    return numbers


def paper_entry(dataset_spec):
    """Name of the paper entry a config dataset is compared with: its `paper:`, else its kind's (None for bundled
    data; LSUN and image folders name theirs, e.g. `paper: lsun_cat256`)."""
    return dataset_spec.get('paper', kind_of(dataset_spec).paper_entry)


def paper_value(entry, variant, quantity):
    """{'value', 'source', 'where', 'confidence'} or None when the paper reports nothing for it."""
    if entry is None:
        return None
    datasets = load_paper_numbers()['datasets']
    return datasets.get(entry, {}).get('variants', {}).get(variant, {}).get(quantity)
