"""Settings-aware reruns: after a finished run of (a copy of) the smoke config, given as `--configfile`, a dry
run schedules exactly the jobs whose resolved settings changed (the digests of act_bench.settings are rule
params); and Snakemake's config conventions."""

import re

import pytest
import yaml

from act_bench.config import expand_runs, load_config
from conftest import REPO
from test_workflow import snakemake

SMOKE = (REPO / 'workflow' / 'configs' / 'smoke.yaml').read_text()


@pytest.fixture(scope='module')
def finished(tmp_path_factory):
    """A workflow directory holding a finished run of the smoke config (as smoke.yaml there)."""
    work = tmp_path_factory.mktemp('finished')
    (work / 'smoke.yaml').write_text(SMOKE)
    result = snakemake('--cores', '2', '--configfile', str(work / 'smoke.yaml'), '--directory', str(work))
    assert result.returncode == 0, result.stdout[-5000:] + result.stderr[-5000:]
    return work


def dry_run(work, config_text):
    """{rule: [its jobs' first outputs]} a dry run schedules with smoke.yaml replaced by `config_text`."""
    (work / 'smoke.yaml').write_text(config_text)
    try:
        result = snakemake('-n', '--config', f'config={work / "smoke.yaml"}', '--directory', str(work))
    finally:
        (work / 'smoke.yaml').write_text(SMOKE)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    jobs = {}
    blocks = re.findall(r'^(?:local)?rule (\w+):\n(?:    .*\n)*?    output: ([^,\s]+)', result.stdout, re.M)
    for rule, output in blocks:   # the first output of each job (rule all has none)
        jobs.setdefault(rule, []).append(output)
    return jobs, result.stdout


def run_dirs(outputs):
    return {output.rsplit('/', 1)[0] for output in outputs}


def smoke_runs():
    return expand_runs(load_config(REPO / 'workflow' / 'configs' / 'smoke.yaml'))


@pytest.mark.heavy   # a smoke run and dry runs: minutes on 2 cores (CI runs pytest -m heavy)
def test_a_lambda_edit_reruns_exactly_the_act_runs_and_their_downstream(finished):
    jobs, _ = dry_run(finished, SMOKE.replace('  r1_interval: 4\n', '  r1_interval: 4\n  lambda_adv: 0.9\n'))
    act = {run.path for run in smoke_runs() if run.method == 'act'}
    for rule in ('train', 'postprocess'):
        assert run_dirs(jobs.pop(rule)) == act, rule
    assert set(jobs) == {'aggregate', 'table', 'plots'}


@pytest.mark.heavy   # a smoke run and dry runs: minutes on 2 cores (CI runs pytest -m heavy)
def test_an_evaluation_edit_reruns_no_training(finished):
    jobs, _ = dry_run(finished, SMOKE.replace('  n_samples: 128\n', '  n_samples: 96\n'))
    everything = {run.path for run in smoke_runs()}
    assert 'train' not in jobs and 'prepare_data' not in jobs and 'train_classifier' not in jobs
    assert run_dirs(jobs['postprocess']) == everything
    assert len(jobs['reference_metrics']) == 2


@pytest.mark.heavy   # a smoke run and dry runs: minutes on 2 cores (CI runs pytest -m heavy)
def test_an_evaluation_network_edit_reruns_sampling_and_metrics_but_no_training(finished):
    """final.pt and the snapshots hold all three networks: the evaluated one is an evaluation setting of the run."""
    jobs, _ = dry_run(finished, SMOKE.replace('evaluation:\n', 'evaluation:\n  network: target\n'))
    assert run_dirs(jobs.pop('postprocess')) == {run.path for run in smoke_runs()}
    assert set(jobs) == {'aggregate', 'table', 'plots'}   # no train, prepare_data, classifier or data floor job


@pytest.mark.heavy   # a smoke run and dry runs: minutes on 2 cores (CI runs pytest -m heavy)
def test_a_blocks_evaluation_network_reruns_only_its_runs_evaluation(finished):
    block = '    augment: ["on"]\n'
    jobs, _ = dry_run(finished, SMOKE.replace(block, block + '    evaluation_network: target\n'))
    augmented = {run.path for run in smoke_runs() if run.augment == 'on'}
    assert len(augmented) == 1 and run_dirs(jobs.pop('postprocess')) == augmented
    assert set(jobs) == {'aggregate', 'table', 'plots'}


@pytest.mark.heavy   # a smoke run and dry runs: minutes on 2 cores (CI runs pytest -m heavy)
def test_a_comment_or_key_order_edit_reruns_nothing(finished):
    edited = SMOKE.replace('  log_every: 5\n  snapshot_every: 10\n', '  snapshot_every: 10  # a comment\n  log_every: 5\n')
    assert edited != SMOKE
    jobs, out = dry_run(finished, '# a new comment\n' + edited)
    assert jobs == {} and 'Nothing to be done' in out


@pytest.mark.heavy   # a smoke run and dry runs: minutes on 2 cores (CI runs pytest -m heavy)
def test_configfile_runs_that_file_whole_and_saves_the_resolved_config(finished):
    saved = yaml.safe_load((finished / 'results' / 'smoke' / 'config.yaml').read_text())
    assert saved == load_config(finished / 'smoke.yaml')
    assert saved['name'] == 'smoke' and saved['train']['iterations'] == 20   # not merged with default.yaml's keys
    settings = yaml.safe_load((finished / smoke_runs()[0].path / 'run.yaml').read_text())
    assert len(settings['train_digest']) == 12 and settings['train_settings']['train']['iterations'] == 20


def test_configfile_and_config_name_together_is_one_error(tmp_path):
    result = snakemake('-n', '--configfile', str(REPO / 'workflow' / 'configs' / 'smoke.yaml'), '--config',
                       'config=smoke', '--directory', str(tmp_path))
    assert result.returncode != 0
    assert 'give the config either as --configfile FILE or as --config config=NAME, not both' in \
        result.stdout + result.stderr


def test_configfile_dry_run_is_the_given_config(tmp_path):
    result = snakemake('-n', '--configfile', str(REPO / 'workflow' / 'configs' / 'smoke.yaml'),
                       '--directory', str(tmp_path))
    assert result.returncode == 0, result.stderr
    assert 'results/smoke/summary.csv' in result.stdout and 'results/default/' not in result.stdout
