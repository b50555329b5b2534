"""GPU-hours per run (ecosystem.md §5): measured by the jobs' own timers, split into training,
evaluation and checkpoint time and summed over restarts, plus, when the jobs ran under SLURM, the
allocated GPU-hours that `sacct` reports for every attempt.

Measured time counts as GPU time only where the job ran on CUDA devices (seconds × devices); a CPU
run has 0 GPU-hours (`device_hours` in train_summary.json keeps its time on any device)."""

import subprocess

SECONDS_PER_HOUR = 3600.0
SACCT_FIELDS = 'JobIDRaw,State,ElapsedRaw,AllocTRES,ReqTRES'


def _gpu_seconds(seconds, device, n_devices):
    return float(seconds) * int(n_devices) if device == 'cuda' else 0.0


def slurm_job_ids(train_summary, jobs):
    """Every SLURM job id of a run: the training attempts' and the evaluation jobs', in order, once each."""
    ids = list(train_summary.get('slurm_job_ids') or [])
    if not ids and train_summary.get('slurm_job_id'):   # summaries written before every attempt was recorded
        ids = [train_summary['slurm_job_id']]
    ids += [job['slurm_job_id'] for job in jobs if job.get('slurm_job_id')]
    return list(dict.fromkeys(str(i) for i in ids))


def gpu_hours(train_summary, jobs):
    """The summary columns of one run from its train_summary.json and its evaluation jobs' records."""
    device, n = train_summary['device'], train_summary['n_devices']
    train = _gpu_seconds(train_summary['train_seconds'] + train_summary['lost_seconds'], device, n)
    checkpoint = _gpu_seconds(train_summary['checkpoint_seconds'], device, n)
    evaluation = sum(_gpu_seconds(j['seconds'], j['device'], j['n_devices']) for j in jobs)
    any_device = ((train_summary['train_seconds'] + train_summary['lost_seconds'] + train_summary['checkpoint_seconds'])
                  * n + sum(j['seconds'] * j['n_devices'] for j in jobs))
    return {'gpu_hours': (train + checkpoint + evaluation) / SECONDS_PER_HOUR,
            'device_hours_total': any_device / SECONDS_PER_HOUR,   # the same on whatever device ran (CPU too)
            'gpu_hours_train': train / SECONDS_PER_HOUR, 'gpu_hours_eval': evaluation / SECONDS_PER_HOUR,
            'gpu_hours_checkpoint': checkpoint / SECONDS_PER_HOUR, 'eval_seconds': sum(j['seconds'] for j in jobs),
            'device_name': train_summary['device_name']}

#----------------------------------------------------------------------------
# Allocated GPU-hours from SLURM accounting.

def gres_gpus(tres):
    """GPUs in a TRES string such as 'billing=16,cpu=16,gres/gpu:a100=2,gres/gpu=2,mem=128G,node=1': the
    untyped gres/gpu entry (the typed ones count the same GPUs again); None when it is not there."""
    for item in (tres or '').split(','):
        key, _, value = item.partition('=')
        if key.strip() == 'gres/gpu' and value.strip().isdigit():
            return int(value)
    return None


def parse_sacct(text):
    """Rows of `sacct -X -D -P -n --format=JobIDRaw,State,ElapsedRaw,AllocTRES,ReqTRES`: job id, state, elapsed
    seconds and GPUs (AllocTRES' gres/gpu, else ReqTRES', else 0: the site does not track GPUs or the job had
    none). Lines that are not such rows (messages, headers) are skipped."""
    rows = []
    for line in text.splitlines():
        fields = line.strip().split('|')
        if len(fields) != 5 or not fields[2].strip().isdigit():
            continue
        job_id, state, elapsed, alloc, req = (f.strip() for f in fields)
        gpus = gres_gpus(alloc)
        rows.append({'job_id': job_id, 'state': state, 'elapsed_seconds': int(elapsed),
                     'gpus': gpus if gpus is not None else (gres_gpus(req) or 0)})
    return rows


def sacct_gpu_hours(job_ids, timeout=60, run=subprocess.run):
    """Allocated GPU-hours of the given jobs, requeued instances (-D) and failed attempts included; NaN when
    there are no ids or sacct is missing, fails or knows none of them. Never raises."""
    ids = sorted({str(i) for i in job_ids if i})
    if not ids:
        return float('nan')
    try:
        result = run(['sacct', '-j', ','.join(ids), '-X', '-D', '-P', '-n', f'--format={SACCT_FIELDS}'],
                     capture_output=True, text=True, timeout=timeout)
    except (OSError, subprocess.SubprocessError):
        return float('nan')
    rows = [r for r in parse_sacct(result.stdout) if r['job_id'] in ids] if result.returncode == 0 else []
    if not rows:
        return float('nan')
    return sum(r['elapsed_seconds'] * r['gpus'] for r in rows) / SECONDS_PER_HOUR
