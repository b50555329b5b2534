"""The SLURM profile (slurm/config.yaml) without a cluster: dry runs with the real profile, and a
reduced smoke config run end to end through the SLURM executor plugin against fake `sbatch`,
`sacct`, `squeue`, `srun`, ... executables (ecosystem.md §2.5, level 3)."""

import json
import os
import re
import shlex
import subprocess
import sys
import time

import pandas as pd
import pytest
import yaml

from act_bench.runtime.errors import ConfigError

from act_bench.config import expand_runs, load_config, prepare_config
from conftest import REPO, TINY_CONFIG

pytest.importorskip('snakemake_executor_plugin_slurm')

PROFILE = REPO / 'slurm'
LOCAL_RULES = {'aggregate', 'table', 'plots', 'all'}


def snakemake(*args, cwd=REPO, env=None, timeout=600):
    cmd = [sys.executable, '-m', 'snakemake', '--snakefile', str(REPO / 'Snakefile'), *args]
    return subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)


def _clean_env(**extra):
    """This process's environment without SLURM's variables (a test run inside a SLURM job)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(('SLURM_', 'SBATCH_', 'SRUN_'))}
    env.update(extra)
    return env


def test_profile_keys():
    profile = yaml.safe_load((PROFILE / 'config.yaml').read_text())
    assert profile['executor'] == 'slurm'
    assert profile['retries'] >= 1
    assert profile['rerun-triggers'] == ['mtime', 'params', 'input', 'software-env']   # no "code"
    assert {'slurm_account', 'slurm_partition', 'runtime', 'mem_mb'} <= set(profile['default-resources'])


def test_resources_defaults_and_errors(tiny_config):
    """The bundled configs ask for no GPU; a bad resources value is one sentence naming the key."""
    assert {group: res['gpus'] for group, res in tiny_config['resources'].items()} == \
        {'default': 0, 'train': 0, 'evaluate': 0}
    assert tiny_config['resources']['train'] == {'gpus': 0, 'gpu_model': None, 'cpus_per_gpu': None,
                                                 'mem_mb': 4000, 'runtime': '1h', 'partition': None}
    assert tiny_config['resources']['default']['runtime'] is None          # the profile's default-resources
    config = {**TINY_CONFIG, 'resources': {'train': {'gpus': 1, 'runtime': '24 hours'}}}
    with pytest.raises(ConfigError, match="config key 'resources.train.runtime'"):
        prepare_config(config)


@pytest.mark.parametrize('name, train', [
    ('default', {'gpu': '0', 'runtime': '60', 'mem_mb': '4000'}),
    ('paper/cifar10', {'gpu': '1', 'cpus_per_gpu': '8', 'runtime': '1440', 'mem_mb': '64000'}),
])
def test_dry_run_with_the_profile(tmp_path, name, train):
    """`snakemake -n --profile slurm` from the checkout (the dry run uses no SLURM command)."""
    result = snakemake('-n', '--profile', 'slurm', '--config', f'config={name}', '--directory', str(tmp_path),
                       env=_clean_env())
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    out = result.stdout + result.stderr
    assert 'slurm_account=CHANGE-ME' in out
    jobs = re.findall(r'^rule (\w+):\n(?:    .*\n)*?    resources: (.*)$', out, re.MULTILINE)
    train_resources = [dict(kv.split('=', 1) for kv in res.split(', ')) for rule, res in jobs if rule == 'train']
    assert train_resources and all(res.items() >= train.items() for res in train_resources)


#----------------------------------------------------------------------------
# Fake SLURM.

FAKE_SBATCH = r'''#!{python}
# Fake sbatch: log the call, run the --wrap command synchronously as job <id> (SLURM_JOB_ID set, output
# to --output), record COMPLETED or FAILED, print the id.
import fcntl, json, os, re, subprocess, sys
from pathlib import Path

state = Path(os.environ['FAKE_SLURM_STATE'])
args = sys.argv[1:]
with open(state / 'sbatch.log', 'a') as log:
    log.write(json.dumps(args) + '\n')
opts, i = {{}}, 0
while i < len(args):
    arg = args[i]
    if arg.startswith('--') and '=' in arg:
        key, value = arg.split('=', 1)
    elif arg in ('--job-name', '--output', '--comment', '-A', '-p', '-t', '--mem', '-D', '-C', '--clusters'):
        key, value = arg, args[i + 1]
        i += 1
    else:
        key, value = arg, True
    opts[key] = value
    i += 1
with open(state / 'counter', 'a+') as f:
    fcntl.flock(f, fcntl.LOCK_EX)
    f.seek(0)
    jobid = int(f.read() or 1000) + 1
    f.seek(0)
    f.truncate()
    f.write(str(jobid))
preempt = state / 'preempt-once'
if re.match(preempt.read_text().strip(), opts['--comment']) if preempt.exists() else False:
    preempt.unlink()
    status = 'TIMEOUT'                   # as if the job ran out of time before writing anything
else:
    out = Path(opts['-D']) / opts['--output'].replace('%j', str(jobid))
    out.parent.mkdir(parents=True, exist_ok=True)
    with open(out, 'w') as f:
        rc = subprocess.call(['/bin/sh', '-c', opts['--wrap']], cwd=opts['-D'], stdout=f, stderr=subprocess.STDOUT,
                             env=dict(os.environ, SLURM_JOB_ID=str(jobid), SLURM_JOBID=str(jobid)))
    status = 'COMPLETED' if rc == 0 else 'FAILED'
with open(state / 'jobs', 'a') as f:
    f.write(f"{{jobid}}|{{opts['--job-name']}}|{{status}}\n")
print(jobid)
'''

FAKE_STATUS = r'''#!{python}
"""Fake sacct/squeue: `id|STATE` of the jobs named by --name; nothing for other queries."""
import os, sys
from pathlib import Path

args = sys.argv[1:]
if '--name' in args:
    name = args[args.index('--name') + 1]
    jobs = Path(os.environ['FAKE_SLURM_STATE']) / 'jobs'
    for line in (jobs.read_text().splitlines() if jobs.exists() else []):
        jobid, job_name, status = line.split('|')
        if job_name == name:
            print(f'{{jobid}}|{{status}}')
'''

FAKE_SHELL = {
    # srun: drop the step options and run the command (the jobstep runs `srun -n1 ... python -m snakemake ...`)
    'srun': 'echo "$*" >> "$FAKE_SLURM_STATE/srun.log"\nwhile [ $# -gt 0 ] && [ "${1#-}" != "$1" ]; do shift; done\n'
            'exec "$@"',
    'scontrol': 'echo "MinJobAge               = 300 sec"',
    'sinfo': 'printf "PARTITION\\ncpu*\\ngpu\\n"',
    'sacctmgr': 'echo test',
    'sshare': 'echo test',
    'scancel': 'exit 0',
}


def fake_slurm(tmp_path):
    """Write the fake SLURM commands into tmp_path/bin; return (bin dir, state dir)."""
    bin_dir, state = tmp_path / 'bin', tmp_path / 'slurm-state'
    bin_dir.mkdir()
    state.mkdir()
    scripts = {'sbatch': FAKE_SBATCH.format(python=sys.executable),
               'sacct': FAKE_STATUS.format(python=sys.executable),
               'squeue': FAKE_STATUS.format(python=sys.executable)}
    scripts.update({name: f'#!/bin/sh\n{body}\n' for name, body in FAKE_SHELL.items()})
    for name, text in scripts.items():
        (bin_dir / name).write_text(text)
        (bin_dir / name).chmod(0o755)
    return bin_dir, state


def reduced_smoke_config(tmp_path):
    """The smoke config with two runs (toy data, CT and ACT, one batch size and seed); training asks
    for one a100 GPU on partition gpu."""
    config = yaml.safe_load((REPO / 'workflow' / 'configs' / 'smoke.yaml').read_text())
    config['name'] = 'smoke-slurm'
    config['datasets'] = {'toy2d-8gaussians': config['datasets']['toy2d-8gaussians']}
    config['sweep'] = [{'dataset': ['toy2d-8gaussians'], 'method': ['ct', 'act'], 'batch_size': [8],
                        'model': ['tiny'], 'seed': [0]}]
    config['resources'] = {'train': {'gpus': 1, 'gpu_model': 'a100', 'cpus_per_gpu': 2, 'mem_mb': 1000,
                                     'runtime': '30m', 'partition': 'gpu'}}
    path = tmp_path / 'smoke-slurm.yaml'
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    return path


def sbatch_calls(state):
    """The logged sbatch calls as {rule: [options without --wrap, ...]}."""
    calls = {}
    for line in (state / 'sbatch.log').read_text().splitlines():
        args = [a for a in json.loads(line) if not a.startswith('--wrap')]
        rule = re.match(r'rule_([a-z0-9_]+?)(_wildcards_|$)', args[args.index('--comment') + 1]).group(1)
        calls.setdefault(rule, []).append(args)
    return calls


# About 3½ minutes on 2 idle cores (each job starts Snakemake twice, jobstep and srun, and act-bench): heavy, so
# the default suite stays under 8 minutes; CI runs it with `pytest -m heavy`.
@pytest.mark.slow
@pytest.mark.heavy
def test_smoke_through_the_slurm_profile(tmp_path):
    bin_dir, state = fake_slurm(tmp_path)
    config_path = reduced_smoke_config(tmp_path)
    work = tmp_path / 'work'
    # the first submission of the CT training job "times out"; the profile's retries resubmit it
    (state / 'preempt-once').write_text('rule_train_wildcards_.*_ct_')
    env = _clean_env(PATH=f'{bin_dir}{os.pathsep}{os.environ["PATH"]}', FAKE_SLURM_STATE=str(state))
    start = time.monotonic()
    result = snakemake('--cores', 'all', '--profile', str(PROFILE), '--config', f'config={config_path}',
                       '--directory', str(work), '--default-resources', 'slurm_account=test',
                       'slurm_partition=cpu', '--slurm-init-seconds-before-status-checks', '1',
                       env=env)
    seconds = time.monotonic() - start
    log = result.stdout + result.stderr
    assert result.returncode == 0, log[-6000:]

    # every non-local job went through sbatch (the retried training job twice), the local ones did not
    stats = dict(re.findall(r'^(\w+)\s+(\d+)$', log.split('Job stats:')[1].split('\n\n')[0], re.MULTILINE))
    remote = {rule: int(n) for rule, n in stats.items() if rule not in LOCAL_RULES | {'total'}}
    calls = sbatch_calls(state)
    assert {rule: len(c) for rule, c in calls.items()} == {**remote, 'train': remote['train'] + 1}
    assert not set(calls) & LOCAL_RULES

    # the config's training resources: -p gpu, -t 30 (attempt 1) / 60 (attempt 2), --mem, one a100 GPU
    runs = expand_runs(load_config(config_path))
    assert remote['train'] == len(runs) == 2
    for args in calls['train']:
        line = shlex.join(args)
        assert '-A test' in line and '-p gpu' in line and '--mem 1000' in line
        assert '--gpus=a100:1' in args and '--cpus-per-gpu=2' in args and '--cpus-per-task=1' not in args
    ct_train = [shlex.join(a) for a in calls['train'] if '_ct_' in a[a.index('--comment') + 1]]
    act_train = [shlex.join(a) for a in calls['train'] if '_act_' in a[a.index('--comment') + 1]]
    assert ['-t 30' in ct_train[0], '-t 60' in ct_train[1]] == [True, True] and len(ct_train) == 2
    assert len(act_train) == 1 and '-t 30' in act_train[0]
    # CPU jobs: the CLI's partition, the config's default runtime, and no GPU flag (gpus: 0)
    for rule in ('postprocess', 'reference_metrics', 'prepare_data'):
        for args in calls[rule]:
            line = shlex.join(args)
            assert '-p cpu' in line and '--cpus-per-task=1' in args
            assert not any(a.startswith(('--gpus', '--gres', '--cpus-per-gpu')) for a in args), line
    assert all('-t 60' in shlex.join(a) for a in calls['postprocess'])

    # inside the allocation the jobstep starts the training step with the job's GPU (srun --gpus=1)
    sruns = (state / 'srun.log').read_text().splitlines()
    assert len(sruns) == sum(remote.values()) and sum('--gpus=1' in s for s in sruns) == len(runs)

    # the jobs ran inside the fake allocation and the summary has one row per run
    train_summary = json.loads((work / runs[0].path / 'train_summary.json').read_text())
    assert train_summary['slurm_job_id'] is not None
    summary = pd.read_csv(work / 'results' / 'smoke-slurm' / 'summary.csv')
    assert sorted(summary['method']) == ['act', 'ct'] and len(summary) == len(runs)
    assert (work / 'reports' / 'smoke-slurm' / 'summary.md').is_file()
    print(f'SLURM profile smoke run: {seconds:.0f} s; a train call: {ct_train[1]}')
