"""What a workflow job leaves behind about itself: its job record (wall seconds, device, SLURM job id,
summed into GPU-hours by act_bench.report.accounting) and its JSON output."""

import json
import os
from pathlib import Path


def job_record(step, seconds, device, **extra):
    """What one evaluation job records about itself: its wall seconds, device and SLURM job id."""
    import torch
    name = torch.cuda.get_device_name(device) if device.type == 'cuda' else 'cpu'
    return {'step': step, 'seconds': float(seconds), 'device': device.type, 'device_name': name, 'n_devices': 1,
            'slurm_job_id': os.environ.get('SLURM_JOB_ID'), **extra}


def write_json(obj, path):
    """`obj` as indented JSON at `path`, its folder made first."""
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    Path(path).write_text(json.dumps(obj, indent=2) + '\n')
