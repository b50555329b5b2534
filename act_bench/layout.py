"""The run layout: where a config's files are, relative to the workflow directory. Every path is a
pattern over `{name}` (the config's name), the run's components and, for some files, `{shard}`,
`{mode}`, `{table}`, `{plot}` or `{ext}`: the Snakemake rules use the patterns as they are, Python
fills them with `.format(...)` (`run_dir(**values)`, `run_file(FINAL, **values)`), and
`parse_run_dir` reads a run directory back into its values."""

import re
from pathlib import Path

from act_bench.runtime.errors import ConfigError

# The run directory's components in path order: (wildcard, path segment, type). A new component is
# one more entry here (and a field of config.Run). `variant_dir` is empty for a run without a variant
# (today's paths) and `variant-NAME/` for a sweep block's `variant: NAME`: a directory above the dataset.
RUN_COMPONENTS = (
    ('variant_dir', '{variant_dir}', str),
    ('dataset', '{dataset}/', str),
    ('method', '{method}/', str),
    ('batch_size', 'batch{batch_size}/', int),
    ('model', '{model}/', str),
    ('augment', 'aug-{augment}/', str),
    ('seed', 'seed{seed}', int),
)
RUN_WILDCARDS = tuple(key for key, _, _ in RUN_COMPONENTS)
VARIANT_DIR_REGEX = r'(?:variant-[^/]+/)?'

RESULTS = 'results/{name}'
RUN_DIR = f'{RESULTS}/runs/' + ''.join(segment for _, segment, _ in RUN_COMPONENTS)
REPORTS = 'reports/{name}'

# Files inside a run directory.
FINAL = 'final.pt'
RUN_SETTINGS = 'run.yaml'
TRAIN_LOG = 'train_log.jsonl'
TRAIN_SUMMARY = 'train_summary.json'
TRAIN_STDOUT = 'train.log'
SAMPLES = 'samples.npz'
METRICS = 'metrics.json'
METRIC_CURVE = 'metric_curve.json'
PARAMS = 'params.json'
FID_SHARD = 'fid/shard{shard}.npz'
FID_SHARD_LOG = 'fid/shard{shard}.log'
SNAPSHOTS = 'snapshots'
CHECKPOINTS = 'checkpoints'

# Files of a config.
DATA_NPZ = RESULTS + '/data/{dataset}.npz'
IMAGENET64_META = RESULTS + '/data/{dataset}/meta.json'
CLASSIFIER = RESULTS + '/features/{dataset}-classifier.pt'
REFERENCE = RESULTS + '/reference/{dataset}.json'
INCEPTION_REFERENCE = RESULTS + '/reference/{dataset}_inception_{mode}.npz'
SUMMARY = RESULTS + '/summary.csv'
RESOLVED_CONFIG = RESULTS + '/config.yaml'   # the config a workflow ran, defaults filled in
ESTIMATE = RESULTS + '/estimate.json'
TABLE = REPORTS + '/{table}.{ext}'
PLOT = REPORTS + '/{dataset}/{plot}.{ext}'


def stage_log(stage):
    """The log of a per-run stage (sample, evaluate, ...), inside the run directory."""
    return f'{stage}.log'


def config_log(stem):
    """The log of a per-config or per-dataset rule: results/{name}/logs/<stem>.log."""
    return f'{RESULTS}/logs/{stem}.log'


def variant_dir(variant):
    """The run-path component of a sweep block's `variant` ('' when it has none)."""
    return f'variant-{variant}/' if variant else ''


def variant_of(variant_dir):
    """The variant name of a `variant_dir` component ('' for none)."""
    return variant_dir[len('variant-'):].rstrip('/') if variant_dir else ''


def run_dir(**values):
    """The run directory: the pattern, or with `name` and every component given, the path."""
    return RUN_DIR.format(**values) if values else RUN_DIR


def run_file(filename, **values):
    """`filename` inside the run directory: the pattern, or with every value given (`shard` too for FID_SHARD),
    the path."""
    pattern = f'{RUN_DIR}/{filename}'
    return pattern.format(**values) if values else pattern


def _run_dir_regex():
    regex = re.escape(RUN_DIR)
    for key, kind in (('name', str), *((key, kind) for key, _, kind in RUN_COMPONENTS)):
        value = VARIANT_DIR_REGEX if key == 'variant_dir' else (r'\d+' if kind is int else '[^/]+')
        regex = regex.replace(re.escape('{' + key + '}'), f'(?P<{key}>{value})')
    return re.compile(f'(?:^|/){regex}$')


def parse_run_dir(path):
    """{'name', *RUN_WILDCARDS} of a run directory (relative, or anywhere below another folder)."""
    match = _run_dir_regex().search(Path(path).as_posix().rstrip('/'))
    if match is None:
        raise ConfigError(f'{path} is not a run directory (expected the layout {RUN_DIR})')
    values = {'name': match['name']}
    for key, _, kind in RUN_COMPONENTS:
        values[key] = kind(match[key])
    return values
