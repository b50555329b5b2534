"""Parameter counts of a run (params.json, a column group of summary.csv) and of every network of a config
(`act-bench params`), the latter beside the official-code and paper-reported values."""

from act_bench.config import expand_runs
from act_bench.evaluation.artifacts import IDENTITY_KEY
from act_bench.runtime.jobs import write_json
from act_bench.settings import artifact_identity
from act_bench.report.paper_counts import reference_counts
from act_bench.training.build import METHODS, parameter_counts


def run_parameter_counts(config, run):
    """The generator's and, for ACT, the discriminator's parameters of one run."""
    return parameter_counts(config['datasets'][run.dataset], config['models'][run.model], run.train,
                            with_discriminator=METHODS[run.method].traits.has_discriminator)


def write_run_parameter_counts(config, run, out):
    """params.json: the run's parameter counts and the run they are of."""
    write_json({**run_parameter_counts(config, run), IDENTITY_KEY: artifact_identity(config, run)}, out)


def config_parameter_counts(config):
    """{'config', 'networks': {'<dataset>/<model>': counts with 'official_code' and 'paper_reported'}}."""
    out = {}
    for run in expand_runs(config):
        key = f'{run.dataset}/{run.model}'
        if key in out:
            continue
        model = config['models'][run.model]
        counts = parameter_counts(config['datasets'][run.dataset], model, run.train,
                                  with_discriminator='generator' not in model or 'discriminator' in model)
        out[key] = {**counts, **reference_counts(model)}
    return {'config': config['name'], 'networks': out}
