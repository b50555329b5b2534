"""Configs: load YAML safely, validate against act_bench/config.schema.yaml with a one-sentence
error, fill schema defaults, and expand the sweep into runs."""

import copy
import itertools
from dataclasses import dataclass, field
from pathlib import Path

import jsonschema
import yaml

from act_bench import layout
from act_bench.data.kinds import kind_of
from act_bench.methods import METHOD_TRAITS
from act_bench.runtime.errors import ConfigError


SCHEMA_PATH = Path(__file__).with_name('config.schema.yaml')   # package data
CONFIGS_DIR = Path('workflow') / 'configs'   # of the checkout Snakemake runs in


def load_schema():
    if not SCHEMA_PATH.is_file():
        raise ConfigError(f'the config schema {SCHEMA_PATH} is missing; reinstall act-bench ("pip install .")')
    return yaml.safe_load(SCHEMA_PATH.read_text())

#----------------------------------------------------------------------------
# Validation with readable messages.

def _where(path):
    out = ''
    for part in path:
        out += f'[{part}]' if isinstance(part, int) else (f'.{part}' if out else str(part))
    return out or 'the top level'


def _describe(error):
    if error.validator == 'additionalProperties':
        extra = sorted(set(error.instance) - set(error.schema.get('properties', {})))
        keys = ', '.join(f"'{_where(list(error.absolute_path) + [k])}'" for k in extra)
        return f'unknown config key {keys}'
    if error.validator == 'required':
        return f'{error.message} (in {_where(error.absolute_path)})'
    if error.validator == 'oneOf' and error.context:
        inner = jsonschema.exceptions.best_match(error.context)
        return _describe(inner) if inner.absolute_path else f"config key '{_where(error.absolute_path)}': " \
            f'{inner.message}'
    return f"config key '{_where(error.absolute_path)}': {error.message}"


def validate(config, source='config'):
    if not isinstance(config, dict):
        raise ConfigError(f'{source} must be a YAML mapping of config keys, got {type(config).__name__}')
    schema = load_schema()
    errors = list(jsonschema.Draft202012Validator(schema).iter_errors(config))
    if errors:
        raise ConfigError(f'{source}: {_describe(jsonschema.exceptions.best_match(errors))}')
    return schema

#----------------------------------------------------------------------------
# Defaults from the schema.

def _resolve(schema, node):
    ref = node.get('$ref')
    return _resolve(schema, schema['$defs'][ref.rsplit('/', 1)[1]]) if ref else node


def fill_defaults(schema, node, instance):
    """Write the schema's `default:` values into `instance`, recursively (overrides stay sparse)."""
    if node.get('$ref', '').endswith('/train_overrides'):
        return
    node = _resolve(schema, node)
    if 'oneOf' in node and isinstance(instance, dict):
        for branch in node['oneOf']:
            branch = _resolve(schema, branch)
            if jsonschema.Draft202012Validator(branch).is_valid(instance):
                fill_defaults(schema, branch, instance)
                return
    if isinstance(instance, dict):
        for key, sub in node.get('properties', {}).items():
            sub_resolved = _resolve(schema, sub)
            if key not in instance and 'default' in sub_resolved:
                instance[key] = copy.deepcopy(sub_resolved['default'])
            if key in instance:
                fill_defaults(schema, sub, instance[key])
        extra = node.get('additionalProperties')
        if isinstance(extra, dict):
            for key in set(instance) - set(node.get('properties', {})):
                fill_defaults(schema, extra, instance[key])
    elif isinstance(instance, list) and isinstance(node.get('items'), dict):
        for item in instance:
            fill_defaults(schema, node['items'], item)


def prepare_config(config, source='config'):
    """Validate a config mapping and return a copy with every default filled in."""
    schema = validate(config, source)
    config = copy.deepcopy(config)
    fill_defaults(schema, schema, config)
    check_semantics(config, source)
    return config


def config_path(value):
    """`NAME` → workflow/configs/NAME.yaml (e.g. `smoke`, `paper/cifar10`) of the checkout in the working
    directory, else of the checkout act-bench was installed from; a path ending in .yaml/.yml is used as given."""
    path = Path(value)
    if path.suffix in ('.yaml', '.yml'):
        return path.resolve()
    for configs in (Path.cwd() / CONFIGS_DIR, Path(__file__).resolve().parents[1] / CONFIGS_DIR):
        if (configs / f'{value}.yaml').is_file():
            return configs / f'{value}.yaml'
    return Path.cwd() / CONFIGS_DIR / f'{value}.yaml'   # load_config says it does not exist


def load_config(path):
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f'config file {path} does not exist')
    try:
        config = yaml.safe_load(path.read_text())
    except yaml.YAMLError as e:
        raise ConfigError(f'config file {path} is not valid YAML ({str(e).splitlines()[0]})') from None
    return prepare_config(config, str(path))

#----------------------------------------------------------------------------
# The sweep.

def _augment_name(value):
    return value if isinstance(value, str) else ('on' if value else 'off')


@dataclass(frozen=True)
class Run:
    config_name: str
    dataset: str
    method: str
    batch_size: int
    model: str
    augment: str
    seed: int
    train: dict = field(compare=False, hash=False, repr=False)
    network: str = field(default='ema', compare=False)   # the generator network evaluated (evaluation.network)
    variant: str = ''   # a sweep block's `variant` ('' when it has none)

    @property
    def path(self):
        """Run directory relative to the workflow root."""
        return layout.run_dir(name=self.config_name, **self.wildcards)

    @property
    def wildcards(self):
        return {'variant_dir': layout.variant_dir(self.variant), 'dataset': self.dataset, 'method': self.method,
                'batch_size': self.batch_size, 'model': self.model, 'augment': self.augment, 'seed': self.seed}


def run_train(config, block, method):
    """A run's train settings: the config's, then its method's defaults (iCT's recipe), then the block's."""
    return {**config['train'], **METHOD_TRAITS[method].train_defaults, **block.get('train', {})}


def expand_runs(config):
    runs, blocks = {}, {}
    for i, block in enumerate(config['sweep']):
        network = block.get('evaluation_network', config['evaluation']['network'])
        for ds, method, batch, model, aug, seed in itertools.product(
                block['dataset'], block['method'], block['batch_size'], block['model'],
                block['augment'], block['seed']):
            train = run_train(config, block, method)
            run = Run(config['name'], ds, method, batch, model, _augment_name(aug), seed, train, network=network,
                      variant=block.get('variant', ''))
            if run in runs and (runs[run].train, runs[run].network) != (train, network):
                raise ConfigError(f'run {run.path} appears in sweep[{blocks[run]}] and sweep[{i}] with different '
                                  'train settings or evaluated networks; give one of the blocks its own `variant:`')
            runs.setdefault(run, run)
            blocks.setdefault(run, i)
    return list(runs.values())


def check_semantics(config, source):
    for i, block in enumerate(config['sweep']):
        for ds in block['dataset']:
            if ds not in config['datasets']:
                raise ConfigError(f"{source}: sweep[{i}].dataset names '{ds}', which is not defined under 'datasets'")
        for m in block['model']:
            if m not in config['models']:
                raise ConfigError(f"{source}: sweep[{i}].model names '{m}', which is not defined under 'models'")
        check_methods(block, f'{source}: sweep[{i}]')
        check_batch_split(block, config['resources']['train']['gpus'], f'{source}: sweep[{i}]')
        for train in (run_train(config, block, method) for method in block['method']):
            if train['s1'] < train['s0']:
                raise ConfigError(f'{source}: sweep[{i}] has s1 < s0 ({train["s1"]} < {train["s0"]})')
    evaluation = config['evaluation']
    inception = any(kind_of(spec).inception_metrics for spec in config['datasets'].values())
    if inception and evaluation['n_samples'] < evaluation['fid']['is_splits']:
        raise ConfigError(f"{source}: evaluation.n_samples ({evaluation['n_samples']}) is smaller than "
                          f"evaluation.fid.is_splits ({evaluation['fid']['is_splits']}); the Inception Score needs "
                          'at least one sample per split')
    expand_runs(config)


def check_methods(block, where):
    """Augmentation only for methods with a discriminator; batches that split into whole parts (ACT: halves)."""
    methods = [METHOD_TRAITS[name] for name in block['method']]
    unaugmentable = [m.name for m in methods if not m.augmentable]
    if unaugmentable and 'on' in {_augment_name(a) for a in block['augment']}:
        raise ConfigError(f'{where} asks for augment "on" with method {unaugmentable[0]}, but augmentation only '
                          'applies to the ACT discriminator; put ACT-Aug runs in their own sweep block')
    unsplittable = [m.name for m in methods if any(b % m.batch_parts for b in block['batch_size'])]
    if unsplittable:
        raise ConfigError(f'{where}.batch_size must be even for method {unsplittable[0]} (the discriminator '
                          'step splits its half of the batch into fakes and reals)')


def check_batch_split(block, gpus, where):
    """With resources.train.gpus = N > 1 each GPU trains 1/N of the batch (ACT: of each half)."""
    if gpus <= 1:
        return
    for method in (METHOD_TRAITS[name] for name in block['method']):
        parts = method.batch_parts * gpus
        for batch in block['batch_size']:
            if batch % parts:
                raise ConfigError(f'{where}.batch_size {batch} is not divisible by {parts}: with resources.train.gpus '
                                  f'{gpus} each GPU trains an equal share of the batch'
                                  + (f' (for {method.name}, of each half)' if method.batch_parts > 1 else ''))


def find_run(config, **wildcards):
    """The run of `config` matching the given wildcard values (strings are accepted, as from a CLI); without
    `variant_dir`, a run of no variant."""
    want = {'variant_dir': '', **{k: str(v) for k, v in wildcards.items()}}
    for run in expand_runs(config):
        if {k: str(v) for k, v in run.wildcards.items()} == want:
            return run
    raise ConfigError(f'config {config["name"]} has no run with {want}')
