"""A bundled run's post-processing in one process (the workflow's `postprocess` rule): its samples, their
metrics, its parameter counts and its metric over training, each stage's output in its own log. One
process instead of four saves three Python + torch + diffusers start-ups per run."""

import contextlib
from pathlib import Path

from act_bench import layout
from act_bench.evaluation.bundled_jobs import write_metrics, write_samples
from act_bench.evaluation.metric_curve import write_metric_curve
from act_bench.report.params import write_run_parameter_counts
from act_bench.settings import write_run_settings


@contextlib.contextmanager
def stage_log(run_dir, stage):
    """stdout and stderr of one stage into <run>/<stage>.log."""
    with open(Path(run_dir) / layout.stage_log(stage), 'w') as log, \
            contextlib.redirect_stdout(log), contextlib.redirect_stderr(log):
        yield


def postprocess(config, run, final, data, classifier, run_dir):
    """samples.npz, metrics.json, params.json, metric_curve.json and run.yaml of a bundled run, in `run_dir`."""
    d = Path(run_dir)
    write_run_settings(config, run, d / layout.RUN_SETTINGS)
    with stage_log(d, 'sample'):
        write_samples(config, run, final, d / layout.SAMPLES)
    with stage_log(d, 'evaluate'):
        write_metrics(config, run, d / layout.SAMPLES, data, classifier, d / layout.METRICS)
    with stage_log(d, 'count_params'):
        write_run_parameter_counts(config, run, d / layout.PARAMS)
    with stage_log(d, 'metric_curve'):
        write_metric_curve(config, run, str(d), data, classifier, d / layout.METRIC_CURVE)
