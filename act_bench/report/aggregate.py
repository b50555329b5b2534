"""Aggregation: summary.csv, one row per run (tables: act_bench.report.tables; plots: act_bench.report.plots)."""

import json
from pathlib import Path

import pandas as pd

from act_bench import layout
from act_bench.evaluation.artifacts import IDENTITY_KEY, read_json, rule_writing
from act_bench.methods import METHOD_TRAITS
from act_bench.settings import artifact_identity, evaluation_identity
from act_bench.report.accounting import SECONDS_PER_HOUR, gpu_hours, sacct_gpu_hours, slurm_job_ids
from act_bench.report.paper_numbers import paper_entry

METHOD_LABELS = ['CT', 'iCT', 'ACT', 'ACT-Aug']
TRAIN_COLUMNS = ('lambda_adv', 'w_mid', 'r1_gamma', 'r1_interval', 'distance')   # what ablation variants vary


def method_label(method, augment):
    """CT, iCT, ACT, or ACT-Aug for an augmented run."""
    return METHOD_TRAITS[method].label + ('-Aug' if augment == 'on' else '')


def label(method_label, variant):
    """What a run's lines are called: CT / iCT / ACT / ACT-Aug, and its variant when it has one."""
    return f'{method_label} {variant}' if isinstance(variant, str) and variant else method_label


def _slug(sampler):
    return sampler.replace('-', '')


def _read_json(path):
    return json.loads(Path(path).read_text())


def cost_columns(train_summary, device_hours_total, method):
    """What a run spent, to compare methods at equal cost: the data images its iterations drew (ACT draws two
    per generator image) and its device-seconds (training, checkpoints, lost work and evaluation jobs)."""
    per_image = METHOD_TRAITS[method].data_per_generator_image
    return {'data_images_seen': train_summary['images_seen'] * per_image,
            'device_seconds': device_hours_total * SECONDS_PER_HOUR}


def aggregate(config, runs, sacct=sacct_gpu_hours):
    """Rows of summary.csv, one per (run directory, its config.Run) of `runs`: the run's wildcards, metrics per
    sampler, parameter counts, time and GPU-hours (measured; and allocated, from `sacct`, when the run's jobs
    ran under SLURM)."""
    rows = []
    for run_dir, run in runs:
        d = Path(run_dir)
        identity = evaluation_identity(config, run)
        evaluation = read_json(d / layout.METRICS, rule_writing(config, run.dataset, 'evaluate_fid'), identity)
        metrics = evaluation['records']
        params = read_json(d / layout.PARAMS, rule_writing(config, run.dataset, 'count_params'),
                           artifact_identity(config, run))
        params = {k: v for k, v in params.items() if k != IDENTITY_KEY}
        summary = _read_json(d / layout.TRAIN_SUMMARY)
        row = {'config': config['name'], 'variant': run.variant,
               **{k: v for k, v in run.wildcards.items() if k != 'variant_dir'},
               'method_label': method_label(run.method, run.augment),
               'primary_metric': f"{metrics[0]['metric']}_{_slug(metrics[0]['sampler'])}"}
        for r in metrics:
            row[f"{r['metric']}_{_slug(r['sampler'])}"] = r['value']
        row.update({f'params_{k}': v for k, v in params.items()})
        for key in ('iterations', 'images_seen', 'train_seconds', 'checkpoint_seconds', 'lost_seconds', 'wall_seconds',
                    'device', 'device_name', 'n_devices', 'device_hours', 'attempts', 'final_loss'):
            row[key] = summary[key]
        jobs = evaluation.get('jobs', [])
        row.update(gpu_hours(summary, jobs))
        row.update(cost_columns(summary, row['device_hours_total'], run.method))
        ids = slurm_job_ids(summary, jobs)
        row['slurm_job_ids'] = ' '.join(ids)
        row['sacct_gpu_hours'] = sacct(ids)
        row.update({key: run.train[key] for key in TRAIN_COLUMNS})
        row['paper'] = paper_entry(config['datasets'][run.dataset])
        row.update(provenance_columns(evaluation, identity))
        rows.append(row)
    return pd.DataFrame(rows)


PROVENANCE_COLUMNS = ('act_bench_version', 'git_commit', 'git_dirty', 'torch', 'diffusers', 'clean_fid')


def provenance_columns(evaluation, identity):
    """The code that produced a run's metrics (from its metrics.json; empty for older files) and its digests
    (an act_bench.settings.evaluation_identity)."""
    provenance = evaluation.get('provenance', {})
    return {**{key: provenance.get(key) for key in PROVENANCE_COLUMNS},
            'evaluation_device_name': provenance.get('device_name'), 'train_digest': identity['train_digest'],
            'evaluation_digest': identity['evaluation_digest']}
