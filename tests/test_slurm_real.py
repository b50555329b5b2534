"""The smoke workflow on a real SLURM cluster through the project's profile (slurm/config.yaml):
every job goes through sbatch to slurmctld, training asks for a GPU, and a training job stopped
with SIGTERM is retried by the profile and resumes from its checkpoint.

Runs only with `pytest -m slurm` and ACT_BENCH_REAL_SLURM=1, against the single-node cluster of
.ci/slurm-single-node.sh (partitions cpu and gpu, fake GPUs gres gpu:a100); see slurm/README.md."""

import json
import os
import re
import subprocess
import sys
import time

import pandas as pd
import pytest
import yaml

from act_bench.config import expand_runs, load_config
from conftest import REPO

pytestmark = pytest.mark.slurm

PROFILE = REPO / 'slurm'
GPU_MODEL = 'a100'
LOCAL_RULES = {'aggregate', 'table', 'plots', 'all'}
# what a site sets on the command line: no account, its partition, squeue for status (no slurmdbd)
SITE_FLAGS = ['--slurm-no-account', '--slurm-status-command', 'squeue',
              '--default-resources', 'slurm_partition=cpu', 'runtime=30', 'mem_mb=1000',
              '--slurm-init-seconds-before-status-checks', '2']


@pytest.fixture(scope='module', autouse=True)
def real_slurm():
    """Skip unless asked for; once asked for, a cluster that does not answer is a failure."""
    if os.environ.get('ACT_BENCH_REAL_SLURM') != '1':
        pytest.skip('needs a real SLURM cluster: run .ci/slurm-single-node.sh as root, then '
                    'ACT_BENCH_REAL_SLURM=1 pytest -m slurm')
    try:
        sinfo = subprocess.run(['sinfo', '--noheader', '--format=%P %t'], capture_output=True, text=True,
                               timeout=30)
    except FileNotFoundError:
        pytest.fail('ACT_BENCH_REAL_SLURM=1 but there is no sinfo command; run .ci/slurm-single-node.sh')
    partitions = dict(line.split() for line in sinfo.stdout.splitlines())
    if sinfo.returncode != 0 or not {'cpu*', 'gpu'} <= set(partitions):
        pytest.fail(f'ACT_BENCH_REAL_SLURM=1 but sinfo does not show partitions cpu and gpu '
                    f'(.ci/slurm-single-node.sh makes them): {sinfo.stdout}{sinfo.stderr}')


def snakemake_command(config_path, work, *args):
    """Snakemake with the project's profile and the site's flags, and the environment without the
    variables of an enclosing SLURM job."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(('SLURM_', 'SBATCH_', 'SRUN_'))}
    cmd = [sys.executable, '-m', 'snakemake', '--snakefile', str(REPO / 'Snakefile'), '--cores', 'all',
           '--profile', str(PROFILE), '--config', f'config={config_path}', '--directory', str(work),
           '--verbose', *SITE_FLAGS, *args]
    return cmd, env


def snakemake(config_path, work, *args, timeout=1800):
    """Run the workflow in `work`; returns (returncode, log)."""
    cmd, env = snakemake_command(config_path, work, *args)
    work.mkdir(parents=True, exist_ok=True)
    with open(work / 'snakemake.log', 'w') as log:
        proc = subprocess.run(cmd, stdout=log, stderr=subprocess.STDOUT, env=env, timeout=timeout)
    return proc.returncode, (work / 'snakemake.log').read_text()


def gpu_config(tmp_path, train=None, **changes):
    """The smoke config with training on one GPU of partition gpu (small memory for small CI machines),
    and one batch size and seed for the toy data: 5 runs, every dataset kind, method and ACT-Aug (the
    11 runs of the whole sweep take twice as long; they run locally in .ci/run). `changes` replace
    top-level keys, `train` updates train."""
    config = yaml.safe_load((REPO / 'workflow' / 'configs' / 'smoke.yaml').read_text())
    assert config['sweep'][0]['dataset'] == ['toy2d-8gaussians']
    config['sweep'][0].update(batch_size=[8], seed=[0])
    config['resources'] = {'train': {'gpus': 1, 'gpu_model': GPU_MODEL, 'cpus_per_gpu': 1, 'mem_mb': 1000,
                                     'runtime': '10m', 'partition': 'gpu'},
                           'evaluate': {'mem_mb': 1000}}
    config.update(changes)
    config['train'].update(train or {})
    path = tmp_path / f"{config['name']}.yaml"
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    return path


def slurm_jobs(log):
    """slurmctld's records of the jobs of the Snakemake run that wrote `log` (the plugin names them all
    by the run's id; kept for MinJobAge = 1 h after they end)."""
    run_id = re.search(r'SLURM run ID: (\S+)', log)
    if not run_id:
        return []
    out = subprocess.run(['scontrol', 'show', 'job', '--oneliner'], capture_output=True, text=True,
                         check=True).stdout
    jobs = [dict(re.findall(r'(\S+?)=(\S*)', line)) for line in out.splitlines()]
    return [job for job in jobs if job.get('JobName') == run_id.group(1)]


def rule_of(job):
    return re.match(r'rule_([a-z0-9_]+?)(_wildcards_|$)', job['Comment']).group(1)


def job_stats(log):
    table = log.split('Job stats:')[1].split('\n\n')[0]
    return {rule: int(n) for rule, n in re.findall(r'^(\w+)\s+(\d+)$', table, re.MULTILINE) if rule != 'total'}


def test_smoke_workflow_on_slurm(tmp_path):
    config_path, work = gpu_config(tmp_path), tmp_path / 'work'
    start = time.monotonic()
    returncode, log = snakemake(config_path, work)
    seconds = time.monotonic() - start
    assert returncode == 0, log[-8000:]

    # every non-local job was an sbatch call that slurmctld ran to completion; the local rules were not
    remote = {rule: n for rule, n in job_stats(log).items() if rule not in LOCAL_RULES}
    assert log.count('sbatch call:') == sum(remote.values())
    jobs = slurm_jobs(log)
    by_rule = {}
    for job in jobs:
        by_rule.setdefault(rule_of(job), []).append(job)
    assert {rule: len(j) for rule, j in by_rule.items()} == remote
    assert all(job['JobState'] == 'COMPLETED' and job['Account'] == '(null)' for job in jobs)

    # training jobs got one GPU on partition gpu (the config's resources.train); the others no GPU
    runs = expand_runs(load_config(config_path))
    assert len(by_rule['train']) == len(runs)
    for job in by_rule['train']:
        assert job['Partition'] == 'gpu' and job['TresPerJob'] == f'gres:gpu:{GPU_MODEL}:1'
        assert job['TimeLimit'] == '00:10:00'
    for rule in set(by_rule) - {'train'}:
        assert all(job['Partition'] == 'cpu' and 'TresPerJob' not in job for job in by_rule[rule]), rule

    # inside the allocation training ran on the CPU (no CUDA device behind the fake GPU), as job <id>
    train_ids = {job['JobId'] for job in by_rule['train']}
    for run in runs:
        summary = json.loads((work / run.path / 'train_summary.json').read_text())
        assert summary['device'] == 'cpu' and summary['slurm_job_id'] in train_ids

    summary = pd.read_csv(work / 'results' / 'smoke' / 'summary.csv')
    keys = ['dataset', 'method', 'batch_size', 'model', 'augment', 'seed']
    got = sorted(tuple(str(v) for v in row) for row in summary[keys].itertuples(index=False))
    assert got == sorted(tuple(str(run.wildcards[k]) for k in keys) for run in runs)
    assert all(pd.notna(row[row['primary_metric']]) for _, row in summary.iterrows()), summary.to_string()
    assert (summary['device'] == 'cpu').all()
    assert (work / 'reports' / 'smoke' / 'summary.md').is_file()
    print(f'smoke workflow on SLURM: {len(jobs)} sbatch jobs, {len(runs)} runs, {seconds:.0f} s')


def wait_for(condition, what, seconds=600):
    deadline = time.monotonic() + seconds
    while not (found := condition()):
        assert time.monotonic() < deadline, f'no {what} after {seconds} s'
        time.sleep(0.5)
    return found


def test_training_stopped_with_sigterm_resumes_on_retry(tmp_path):
    """SIGTERM to a running training job (what SLURM sends on preemption or time-out) makes it write a
    checkpoint and fail; the profile's retries resubmit it with twice the time, and it resumes. The
    periodic checkpoint is at step 2000 and the signal comes near the start, so resuming from a step
    in between is the checkpoint written on the signal."""
    toy = {'kind': 'toy2d', 'distribution': 'eight_gaussians', 'n_train': 2000, 'n_eval': 256}
    sweep = [{'dataset': ['toy'], 'method': ['ct'], 'batch_size': [8], 'model': ['tiny'], 'seed': [0]}]
    config_path = gpu_config(tmp_path, name='preempt', datasets={'toy': toy}, sweep=sweep,
                             train={'iterations': 4000, 'checkpoint_every': 2000, 'log_every': 10})
    [run] = expand_runs(load_config(config_path))
    work = tmp_path / 'work'
    train_log = work / run.path / 'train_log.jsonl'
    cmd, env = snakemake_command(config_path, work, f'{run.path}/train_summary.json')
    work.mkdir()
    log_text = (work / 'snakemake.log').read_text
    with open(work / 'snakemake.log', 'w') as log:
        proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, env=env)
        try:
            first = wait_for(lambda: [j for j in slurm_jobs(log_text()) if rule_of(j) == 'train'
                                      and j['JobState'] == 'RUNNING'], 'running training job')[0]
            wait_for(lambda: train_log.exists() and train_log.read_text().strip(), 'training step')
            subprocess.run(['scancel', '--signal=TERM', first['JobId']], check=True)
            returncode = proc.wait(timeout=1200)
        finally:
            if proc.poll() is None:
                proc.terminate()          # Snakemake cancels its SLURM jobs
                proc.wait(timeout=60)
    log = (work / 'snakemake.log').read_text()
    assert returncode == 0, log[-8000:]

    train = sorted((j for j in slurm_jobs(log) if rule_of(j) == 'train'), key=lambda j: int(j['JobId']))
    assert [j['JobState'] for j in train] == ['FAILED', 'COMPLETED'], train
    assert [j['TimeLimit'] for j in train] == ['00:10:00', '00:20:00']     # attempt 2: twice the runtime
    summary = json.loads((work / run.path / 'train_summary.json').read_text())
    assert summary['slurm_job_id'] == train[1]['JobId'] and summary['attempts'] == 2
    assert 0 < (summary['resumed_from_step'] or 0) < 2000 and summary['iterations'] == 4000
    print(f"SIGTERM; the retry resumed from step {summary['resumed_from_step']}")
