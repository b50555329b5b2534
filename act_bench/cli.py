"""The `act-bench` command line. Workflow rules call these subcommands; all logic lives in the package."""

import argparse
import json
import sys
from pathlib import Path

from act_bench.config import find_run, load_config
from act_bench.runtime.errors import ConfigError, DatasetError
from act_bench.training.build import load_generator


def _run_args(parser):
    parser.add_argument('--config', required=True, help='workflow config YAML')
    for name in ('dataset', 'method', 'batch-size', 'model', 'augment', 'seed'):
        parser.add_argument(f'--{name}', required=True)


def _run_of(args):
    config = load_config(args.config)
    run = find_run(config, dataset=args.dataset, method=args.method, batch_size=args.batch_size,
                   model=args.model, augment=args.augment, seed=args.seed)
    return config, run


def _write_json(obj, path):
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    Path(path).write_text(json.dumps(obj, indent=2) + '\n')


def _set_threads(config):
    import torch
    torch.set_num_threads(config['threads'])

#----------------------------------------------------------------------------

def cmd_prepare_data(args):
    from act_bench.data.bundled import prepare_dataset, save_dataset
    config = load_config(args.config)
    if args.dataset not in config['datasets']:
        raise ConfigError(f"dataset '{args.dataset}' is not defined in {args.config}")
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    save_dataset(prepare_dataset(config['datasets'][args.dataset]), args.out)


def cmd_convert_imagenet64(args):
    from act_bench.data.images import convert_imagenet64_npz
    meta = convert_imagenet64_npz(args.npz_dir, args.out)
    print(f"wrote {meta['num_images']} images to {args.out}")


def cmd_train_classifier(args):
    from act_bench.data.bundled import load_dataset
    from act_bench.evaluation.digits_classifier import save_classifier, train_digits_classifier
    config = load_config(args.config)
    _set_threads(config)
    data = load_dataset(args.data)
    c = config['evaluation']['classifier']
    model, accuracy = train_digits_classifier(data['train'], data['train_labels'], data['eval'],
                                              data['eval_labels'], c['iterations'], c['batch_size'], c['lr'],
                                              c['feature_dim'], c['seed'])
    save_classifier(model, accuracy, args.out)
    print(json.dumps({'eval_accuracy': accuracy}))


def cmd_train(args):
    from act_bench.runtime import distributed
    from act_bench.runtime.device import resolve_device
    config, run = _run_of(args)
    gpus = config['resources']['train']['gpus']
    if gpus > 1 and not distributed.under_torchrun():
        distributed.relaunch(args.argv, gpus)   # does not return: torchrun runs this command on each rank
    _set_threads(config)
    with distributed.process_group(resolve_device(config['device'])) as device:
        _train(config, run, args, device)


def _train(config, run, args, device):
    from tqdm import tqdm

    from act_bench.runtime.distributed import is_main
    from act_bench.training.loop import training_loop
    bars = []   # made at the first logged step, so errors before training are not glued to a bar

    def progress(record):
        if not bars:
            bars.append(tqdm(total=run.train['iterations'], desc=f'{run.method} {run.dataset} b{run.batch_size}',
                             mininterval=5, file=sys.stderr, disable=not is_main()))
        bars[0].set_postfix(loss=f"{record['loss']:.4g}", N=record['N'], refresh=False)
        bars[0].update(record['step'] - bars[0].n)

    try:
        training_loop(run, config['datasets'][run.dataset], config['models'][run.model], args.data, args.run_dir,
                      device=device, progress=progress)
    finally:
        for bar in bars:
            bar.close()   # ends the bar's line: an error message starts on a line of its own


def cmd_sample(args):
    import time

    import numpy as np
    import torch

    from act_bench.report.accounting import job_record
    from act_bench.training.sampling import sample
    start = time.perf_counter()
    config, run = _run_of(args)
    _set_threads(config)
    net, state = load_generator(config, run, args.final)
    ev = config['evaluation']
    clip = state['data_kind'] != 'toy2d'
    common = dict(n=ev['n_samples'], batch_size=ev['batch_size'], clip=clip, seed=10_000 + run.seed,
                  num_classes=state.get('num_classes'))
    samples = {'1-step': sample(net, tuple(state['shape']), **common).numpy()}
    if ev['two_step_sigma'] is not None:
        samples['2-step'] = sample(net, tuple(state['shape']), mid_sigma=ev['two_step_sigma'], **common).numpy()
    job = job_record('sample', time.perf_counter() - start, torch.device('cpu'))
    np.savez(args.out, _jobs=np.array(json.dumps([job])), _network=np.array(state['network']), **samples)


def _metric_inputs(config, dataset, data_path, classifier):
    from act_bench.data.bundled import load_dataset
    from act_bench.evaluation.bundled_metrics import metrics_for
    kind = config['datasets'][dataset]['kind']
    if kind != 'toy2d' and not classifier:
        raise ConfigError(f'dataset {dataset} needs --classifier (the digits feature extractor)')
    return metrics_for(kind, classifier), load_dataset(data_path)


def cmd_evaluate(args):
    import time

    import numpy as np
    import torch

    from act_bench.report.accounting import job_record
    from act_bench.evaluation.bundled_metrics import evaluate
    start = time.perf_counter()
    config = load_config(args.config)
    metrics, data = _metric_inputs(config, args.dataset, args.data, args.classifier)
    with np.load(args.samples) as f:
        samples = {k: f[k] for k in f.files if not k.startswith('_')}
        jobs = json.loads(str(f['_jobs'])) if '_jobs' in f.files else []
        network = str(f['_network'])
    records = evaluate(metrics, samples, data['eval'], f'{args.dataset} held-out split', network)
    jobs.append(job_record('evaluate', time.perf_counter() - start, torch.device('cpu')))
    _write_json({'records': records, 'jobs': jobs}, args.out)


def cmd_metric_curve(args):
    from act_bench.data.bundled import load_dataset
    from act_bench.evaluation.metric_curve import metric_curve
    config, run = _run_of(args)
    _set_threads(config)
    kind = config['datasets'][run.dataset]['kind']
    data = load_dataset(args.data) if args.data and args.data.endswith('.npz') else None
    if kind == 'digits' and not args.classifier:
        raise ConfigError(f'dataset {run.dataset} needs --classifier (the digits feature extractor)')
    curve = metric_curve(config, run, args.run_dir, data, args.classifier, load_generator)
    _write_json({**run.wildcards, **curve}, args.out)


def cmd_reference_metrics(args):
    """The data floor: the same metrics between a training subsample and the held-out split."""
    import numpy as np

    from act_bench.evaluation.bundled_metrics import evaluate
    config = load_config(args.config)
    metrics, data = _metric_inputs(config, args.dataset, args.data, args.classifier)
    n = min(config['evaluation']['n_samples'], len(data['train']))
    subset = data['train'][np.random.default_rng(0).permutation(len(data['train']))[:n]]
    records = evaluate(metrics, {'training data': subset}, data['eval'], f'{args.dataset} held-out split')
    _write_json({'dataset': args.dataset, 'records': records}, args.out)


def cmd_count_params(args):
    from act_bench.training.build import METHODS, parameter_counts
    config, run = _run_of(args)
    _write_json(parameter_counts(config['datasets'][run.dataset], config['models'][run.model], run.train,
                                 with_discriminator=METHODS[run.method].traits.has_discriminator), args.out)


def cmd_params(args):
    """Parameter counts of every (dataset, model) of a config, with the official and paper values."""
    from act_bench.config import config_path, expand_runs
    from act_bench.training.build import parameter_counts
    from act_bench.report.paper_counts import reference_counts
    config = load_config(config_path(args.config))
    out = {}
    for run in expand_runs(config):
        key = f'{run.dataset}/{run.model}'
        if key in out:
            continue
        model = config['models'][run.model]
        counts = parameter_counts(config['datasets'][run.dataset], model, run.train,
                                  with_discriminator='generator' not in model or 'discriminator' in model)
        out[key] = {**counts, **reference_counts(model)}
    print(json.dumps({'config': config['name'], 'networks': out}, indent=2))


def cmd_aggregate(args):
    from act_bench.report.aggregate import aggregate
    config = load_config(args.config)
    aggregate(config, Path(args.root)).to_csv(args.out, index=False)


def cmd_table(args):
    from act_bench.report.tables import write_tables
    for path in write_tables(args.summary, args.reference, args.out_dir, args.estimate):
        print(f'wrote {path}')


def cmd_plots(args):
    from act_bench.report.plots import write_plots
    config = load_config(args.config)
    if args.dataset not in config['datasets']:
        raise ConfigError(f"dataset '{args.dataset}' is not defined in {args.config}")
    for path in write_plots(config, args.summary, Path(args.root), args.dataset, Path(args.out_dir)):
        print(f'wrote {path}')


def _bench_overrides(args):
    return {'distance': args.distance, 'precision': args.precision}


def _set_bench_threads(config, threads=None):
    import os

    import torch
    cores = len(os.sched_getaffinity(0)) if hasattr(os, 'sched_getaffinity') else os.cpu_count() or 1
    torch.set_num_threads(threads or min(config['threads'], cores))   # never oversubscribe a timing


def _bench_command(args):
    """The command line that regenerates a benchmark, for its report."""
    import shlex
    parts = ['act-bench', 'bench', args.config, '--runs', *args.runs] if args.runs else ['act-bench', 'bench', args.config]
    for flag in ('batch', 'steps', 'repeats', 'threads', 'distance', 'precision', 'device', 'out', 'markdown'):
        value = getattr(args, flag)
        if value is not None and not (flag == 'device' and value == 'auto'):
            parts += [f'--{flag}', str(value)]
    if args.variants:
        parts += ['--variants', *args.variants]
    return shlex.join(parts)


def cmd_bench(args):
    from act_bench.perf.bench import bench
    from act_bench.config import config_path
    config = load_config(config_path(args.config))
    _set_bench_threads(config, args.threads)
    variants = None
    if args.variants:
        from act_bench.perf.bench import parse_variant
        variants = {v: parse_variant(v) for v in args.variants}
    result = bench(config, args.runs, args.steps, args.repeats, args.batch, variants, args.device,
                   **_bench_overrides(args))
    print(json.dumps(result, indent=2))
    if args.out:
        _write_json(result, args.out)
    if args.markdown:
        from act_bench.perf.bench import format_markdown
        Path(args.markdown).parent.mkdir(parents=True, exist_ok=True)
        Path(args.markdown).write_text(format_markdown(result, _bench_command(args)))


def cmd_estimate(args):
    from act_bench.config import config_path
    from act_bench.perf.estimate import estimate, format_table
    config = load_config(config_path(args.config))
    _set_bench_threads(config, args.threads)
    result, note = estimate(config, args.steps, args.warmup, args.sample_batch, args.runs, args.device, args.batch,
                            **_bench_overrides(args))
    print(format_table(result, note))
    if args.out:
        _write_json(result, args.out)


def _bench_args(parser, steps):
    parser.add_argument('config', help='config name (e.g. paper/cifar10) or path to a .yaml')
    parser.add_argument('--steps', type=int, default=steps, help='timed iterations per kind (R1 / plain) per repeat')
    parser.add_argument('--runs', nargs='*', default=[], help='only runs whose results path matches one of these '
                                                              "globs, e.g. '*/act/batch80/*/aug-on/*'")
    parser.add_argument('--device', default='auto', help='auto (the config\'s device), cpu or cuda')
    parser.add_argument('--distance', help='override train.distance (e.g. l2 when the LPIPS weights are absent)')
    parser.add_argument('--precision', choices=['fp32', 'bf16', 'fp16'], help='override train.precision')
    parser.add_argument('--threads', type=int, help='CPU threads (default: the config\'s, at most the cores)')
    parser.add_argument('--out', help='also write the JSON here')

#----------------------------------------------------------------------------
# Inception FID / IS of the image datasets (act_bench.evaluation.inception).

def cmd_fid_reference(args):
    from act_bench.evaluation.inception import write_reference_statistics
    from act_bench.runtime.device import resolve_device
    config = load_config(args.config)
    _set_threads(config)
    if args.mode != config['evaluation']['fid']['mode']:
        raise ConfigError(f"reference statistics for mode {args.mode} were asked for, but evaluation.fid.mode is "
                          f"{config['evaluation']['fid']['mode']}")
    meta = write_reference_statistics(config, args.dataset, args.out, args.data, resolve_device(config['device']))
    print(json.dumps(meta))


def cmd_sample_features(args):
    import time

    from act_bench.report.accounting import job_record
    from act_bench.evaluation.inception import sample_shard, save_shard
    from act_bench.runtime.device import resolve_device
    start = time.perf_counter()
    config, run = _run_of(args)
    _set_threads(config)
    device = resolve_device(config['device'])
    net, state = load_generator(config, run, args.final, device)
    stats, meta, grid = sample_shard(config, net, tuple(state['shape']), state.get('num_classes'), 10_000 + run.seed,
                               args.shard, device)
    meta['job'] = job_record('sample_features', time.perf_counter() - start, device, shard=args.shard)
    meta['network'] = state['network']
    save_shard(args.out, stats, meta, grid)


def cmd_evaluate_fid(args):
    import time

    import torch

    from act_bench.report.accounting import job_record
    from act_bench.evaluation.inception import load_shards, records
    start = time.perf_counter()
    config = load_config(args.config)
    merged, metas = load_shards(args.features)
    out = []
    for sampler, stats in merged.items():
        out += records(stats, args.reference, sampler, metas[0]['feature_extractor'], metas[0]['mode'],
                       metas[0]['network'])
    jobs = [m['job'] for m in metas] + [job_record('evaluate_fid', time.perf_counter() - start, torch.device('cpu'))]
    _write_json({'records': out, 'jobs': jobs, 'dataset': args.dataset, 'config': config['name']}, args.out)


def cmd_reference_fid(args):
    """The data floor of an image dataset: FID and IS of n_samples training images vs the reference statistics."""
    import numpy as np

    from act_bench.evaluation.inception import accumulate, build_extractor, dataset_batches, dataset_size, records
    from act_bench.runtime.device import resolve_device
    config = load_config(args.config)
    _set_threads(config)
    spec, ev = config['datasets'][args.dataset], config['evaluation']
    size = dataset_size(spec, args.data)
    n = min(ev['n_samples'], size)
    indices = np.sort(np.random.default_rng(0).permutation(size)[:n])
    extractor = build_extractor(config, resolve_device(config['device']), progress=True)
    stats = accumulate(extractor, dataset_batches(spec, indices, ev['fid']['batch_size'], args.data), n,
                       min(ev['fid']['is_splits'], n))
    out = records(stats, args.reference, 'training data', extractor.name, ev['fid']['mode'])
    _write_json({'dataset': args.dataset, 'records': out}, args.out)

#----------------------------------------------------------------------------

def build_parser():
    parser = argparse.ArgumentParser(prog='act-bench', description='CT vs ACT benchmark suite')
    sub = parser.add_subparsers(dest='command', required=True)

    p = sub.add_parser('prepare-data', help='write a bundled dataset (train/eval split) to .npz')
    p.add_argument('--config', required=True)
    p.add_argument('--dataset', required=True)
    p.add_argument('--out', required=True)
    p.set_defaults(func=cmd_prepare_data)

    p = sub.add_parser('convert-imagenet64', help='official ImageNet 64x64 .npz batches -> memory-mapped folder')
    p.add_argument('--npz-dir', required=True)
    p.add_argument('--out', required=True)
    p.set_defaults(func=cmd_convert_imagenet64)

    p = sub.add_parser('train-classifier', help='train the digits feature extractor for fd_digits')
    p.add_argument('--config', required=True)
    p.add_argument('--data', required=True)
    p.add_argument('--out', required=True)
    p.set_defaults(func=cmd_train_classifier)

    p = sub.add_parser('train', help='train one run (resumes from its newest checkpoint)')
    _run_args(p)
    p.add_argument('--data', help='prepared data (.npz, or the converted ImageNet64 folder)')
    p.add_argument('--run-dir', required=True)
    p.set_defaults(func=cmd_train)

    p = sub.add_parser('sample', help='one-step (and two-step) samples from a run\'s EMA network')
    _run_args(p)
    p.add_argument('--final', required=True, help="the run's final.pt")
    p.add_argument('--out', required=True)
    p.set_defaults(func=cmd_sample)

    for name, func, help_text in (('evaluate', cmd_evaluate, 'metrics of a run\'s samples'),
                                  ('reference-metrics', cmd_reference_metrics,
                                   'metrics of held-out data vs training data (the floor)')):
        p = sub.add_parser(name, help=help_text)
        p.add_argument('--config', required=True)
        p.add_argument('--dataset', required=True)
        p.add_argument('--data')
        p.add_argument('--classifier')
        p.add_argument('--out', required=True)
        if name == 'evaluate':
            p.add_argument('--samples', required=True)
        p.set_defaults(func=func)

    p = sub.add_parser('fid-reference', help='Inception reference statistics of an image dataset (computed from '
                                             'its training set or imported from its fid_reference .npz)')
    p.add_argument('--config', required=True)
    p.add_argument('--dataset', required=True)
    p.add_argument('--mode', required=True, help='FID mode of the output file (must be the config\'s)')
    p.add_argument('--data', help='the converted ImageNet64 folder')
    p.add_argument('--out', required=True)
    p.set_defaults(func=cmd_fid_reference)

    p = sub.add_parser('sample-features', help='one shard of a run\'s samples through Inception: feature and IS '
                                               'statistics (.npz), no images')
    _run_args(p)
    p.add_argument('--final', required=True, help="the run's final.pt")
    p.add_argument('--shard', type=int, required=True, help='0 .. evaluation.fid.shards - 1')
    p.add_argument('--out', required=True)
    p.set_defaults(func=cmd_sample_features)

    p = sub.add_parser('evaluate-fid', help='FID and IS of a run from its merged feature shards')
    p.add_argument('--config', required=True)
    p.add_argument('--dataset', required=True)
    p.add_argument('--features', nargs='+', required=True, help='every shard of the run')
    p.add_argument('--reference', required=True, help='reference statistics (.npz with mu, sigma)')
    p.add_argument('--out', required=True)
    p.set_defaults(func=cmd_evaluate_fid)

    p = sub.add_parser('reference-fid', help='FID and IS of training images vs the reference statistics (the floor)')
    p.add_argument('--config', required=True)
    p.add_argument('--dataset', required=True)
    p.add_argument('--data', help='the converted ImageNet64 folder')
    p.add_argument('--reference', required=True)
    p.add_argument('--out', required=True)
    p.set_defaults(func=cmd_reference_fid)

    p = sub.add_parser('metric-curve', help="metrics of a run's EMA snapshots over training (train.snapshot_every)")
    _run_args(p)
    p.add_argument('--run-dir', required=True)
    p.add_argument('--data')
    p.add_argument('--classifier')
    p.add_argument('--out', required=True)
    p.set_defaults(func=cmd_metric_curve)

    p = sub.add_parser('count-params', help='parameter counts of a run\'s generator and discriminator')
    _run_args(p)
    p.add_argument('--out', required=True)
    p.set_defaults(func=cmd_count_params)

    p = sub.add_parser('params', help='parameter counts of a config\'s networks (JSON), beside the '
                                      'official-code and paper-reported values')
    p.add_argument('config', help='config name (e.g. paper/cifar10) or path to a .yaml')
    p.set_defaults(func=cmd_params)

    p = sub.add_parser('aggregate', help='one row per run: results/<config>/summary.csv')
    p.add_argument('--config', required=True)
    p.add_argument('--root', default='.', help='workflow directory holding results/')
    p.add_argument('--out', required=True)
    p.set_defaults(func=cmd_aggregate)

    p = sub.add_parser('table', help='comparison and ablation tables (Markdown and LaTeX): summary.md/.tex, '
                                     'ablations.md/.tex')
    p.add_argument('--summary', required=True)
    p.add_argument('--reference', nargs='*', default=[], help='data-floor JSON files (reference_metrics rule)')
    p.add_argument('--estimate', help='projected GPU-hours per run (JSON of act-bench estimate)')
    p.add_argument('--out-dir', required=True)
    p.set_defaults(func=cmd_table)

    p = sub.add_parser('plots', help="seaborn plots of one dataset's runs (PNG and PDF): metric vs batch size and "
                                     'GPU-hours, losses, metric and augmentation p over training, samples')
    p.add_argument('--config', required=True)
    p.add_argument('--summary', required=True)
    p.add_argument('--dataset', required=True)
    p.add_argument('--root', default='.')
    p.add_argument('--out-dir', required=True)
    p.set_defaults(func=cmd_plots)

    p = sub.add_parser('bench', help='images/s, ms per iteration, memory and MFU of CT/ACT training steps and '
                                     'one-step sampling, for every set of speed-ups (JSON)')
    _bench_args(p, steps=2)
    p.add_argument('--batch', type=int, help='batch size (default: each run\'s)')
    p.add_argument('--repeats', type=int, default=3, help='interleaved repeats of every variant')
    p.add_argument('--markdown', help='also write a short Markdown summary here')
    p.add_argument('--variants', nargs='*', help='speed-up sets to time, e.g. none default foreach+sdpa '
                                                 '(default: none, default, default minus / plus each one)')
    p.set_defaults(func=cmd_bench)

    p = sub.add_parser('estimate', help='projected wall time and GPU-hours of each run of a config, from a '
                                        'short timed segment (table; JSON with --out)')
    _bench_args(p, steps=2)
    p.add_argument('--warmup', type=int, default=1, help='untimed iterations per kind first')
    p.add_argument('--sample-batch', type=int, help='sampling batch timed (default: evaluation.batch_size)')
    p.add_argument('--batch', type=int, help='time steps at this smaller batch and scale linearly to each run\'s '
                                             'batch (paper configs on a CPU)')
    p.set_defaults(func=cmd_estimate)
    return parser


def main(argv=None):
    args = build_parser().parse_args(argv)
    args.argv = list(sys.argv[1:] if argv is None else argv)   # `train` re-runs itself under torchrun
    try:
        args.func(args)
    except RuntimeError as e:
        if hasattr(e, 'exit_code'):   # TrainingInterrupted: checkpoint written, retry resumes
            print(f'act-bench {args.command}: stopped: {e}', file=sys.stderr)
            return e.exit_code
        print(f'act-bench {args.command}: error: {e}', file=sys.stderr)
        return 1
    except (ConfigError, DatasetError, FileNotFoundError) as e:
        print(f'act-bench {args.command}: error: {e}', file=sys.stderr)
        return 1
    return 0


if __name__ == '__main__':
    sys.exit(main())
