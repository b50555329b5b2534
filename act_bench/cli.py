"""The `act-bench` command line. Workflow rules call these subcommands; each parses its options (declared
beside it), resolves the config, dataset or run they name, and calls one library function."""

import argparse
import json
import sys

from act_bench.config import config_path, find_run, load_config
from act_bench.runtime.errors import ConfigError, DatasetError

COMMANDS = []   # (name, help, handler, arguments), in `act-bench --help` order


def arg(*flags, **options):
    """One argparse argument of a command."""
    return flags, options


def command(name, help, *arguments):
    """Register the decorated handler as `act-bench <name>` with these arguments."""
    def register(handler):
        COMMANDS.append((name, help, handler, arguments))
        return handler
    return register


CONFIG = arg('--config', required=True, help='workflow config YAML')
CONFIG_NAME = arg('config', help='config name (e.g. paper/cifar10) or path to a .yaml')
DATASET = arg('--dataset', required=True, help="a dataset of the config's `datasets`")
OUT = arg('--out', required=True)
RUN = (CONFIG, DATASET, *(arg(f'--{name}', required=True) for name in ('method', 'batch-size', 'model', 'augment',
                                                                        'seed')),
       arg('--variant', default='', help="the sweep block's `variant` (none: the runs without one)"))
FINAL = arg('--final', required=True, help="the run's final.pt")
DATA = arg('--data', help='prepared data (.npz, or the converted ImageNet64 folder)')
CLASSIFIER = arg('--classifier', help='the digits feature extractor (datasets of kind digits)')
RUNS = arg('--run', dest='runs', action='append', required=True, metavar='DIR',
           help='a run directory (results/<name>/runs/...); once per run')

#----------------------------------------------------------------------------
# Resolving what a command names.

def _dataset(config, dataset):
    """The config's entry of `dataset`."""
    if dataset not in config['datasets']:
        raise ConfigError(f"dataset '{dataset}' is not defined in config {config['name']}")
    return config['datasets'][dataset]


def _set_threads(config):
    import torch
    torch.set_num_threads(config['threads'])


def _config_of(args, threads=False):
    """The config of --config (its --dataset checked), with torch's CPU threads set from it if asked."""
    config = load_config(args.config)
    if getattr(args, 'dataset', None) is not None:
        _dataset(config, args.dataset)
    if threads:
        _set_threads(config)
    return config


def _run_of(args, threads=False):
    config = _config_of(args, threads)
    from act_bench.layout import variant_dir
    run = find_run(config, variant_dir=variant_dir(args.variant), dataset=args.dataset, method=args.method,
                   batch_size=args.batch_size, model=args.model, augment=args.augment, seed=args.seed)
    return config, run


def _runs_at(config, run_dirs):
    """(run directory, its Run of `config`) for every directory."""
    from act_bench.layout import parse_run_dir
    runs = []
    for run_dir in run_dirs:
        values = parse_run_dir(run_dir)
        if values.pop('name') != config['name']:
            raise ConfigError(f"run directory {run_dir} is not a run of config {config['name']}")
        runs.append((run_dir, find_run(config, **values)))
    return runs


def _device(config):
    from act_bench.runtime.device import resolve_device
    return resolve_device(config['device'])

#----------------------------------------------------------------------------
# Data.

@command('prepare-data', 'write a bundled dataset (train/eval split) to .npz', CONFIG, DATASET, OUT)
def cmd_prepare_data(args):
    from pathlib import Path

    from act_bench.data.bundled import prepare_dataset, save_dataset
    spec = _dataset(_config_of(args), args.dataset)
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    save_dataset(prepare_dataset(spec), args.out)


@command('convert-imagenet64', 'official ImageNet 64x64 .npz batches -> memory-mapped folder',
         arg('--npz-dir', required=True), OUT)
def cmd_convert_imagenet64(args):
    from act_bench.data.images import convert_imagenet64_npz
    meta = convert_imagenet64_npz(args.npz_dir, args.out)
    print(f"wrote {meta['num_images']} images to {args.out}")


@command('train-classifier', 'train the digits feature extractor for fd_digits', CONFIG,
         arg('--data', required=True, help='the prepared digits .npz'), OUT)
def cmd_train_classifier(args):
    from act_bench.evaluation.digits_classifier import write_classifier
    print(json.dumps({'eval_accuracy': write_classifier(_config_of(args, threads=True), args.data, args.out)}))

#----------------------------------------------------------------------------
# Training.

@command('train', 'train one run (resumes from its newest checkpoint)', *RUN, DATA, arg('--run-dir', required=True))
def cmd_train(args):
    from act_bench.runtime import distributed
    config, run = _run_of(args)
    gpus = config['resources']['train']['gpus']
    if gpus > 1 and not distributed.under_torchrun():
        distributed.relaunch(args.argv, gpus)   # does not return: torchrun runs this command on each rank
    _set_threads(config)
    with distributed.process_group(_device(config)) as device:
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
    if is_main():
        _stamp_final(config, run, args.run_dir)


def _stamp_final(config, run, run_dir):
    from pathlib import Path

    from act_bench.evaluation.artifacts import stamp_final
    from act_bench.layout import FINAL
    from act_bench.settings import artifact_identity
    stamp_final(Path(run_dir) / FINAL, artifact_identity(config, run))

#----------------------------------------------------------------------------
# Evaluation of bundled datasets (act_bench.evaluation.bundled_jobs).

@command('sample', "one-step (and two-step) samples of a run's evaluated network", *RUN, FINAL, OUT)
def cmd_sample(args):
    from act_bench.evaluation.bundled_jobs import write_samples
    write_samples(*_run_of(args, threads=True), args.final, args.out)


@command('evaluate', "metrics of a run's samples", *RUN, arg('--samples', required=True), DATA, CLASSIFIER, OUT)
def cmd_evaluate(args):
    from act_bench.evaluation.bundled_jobs import write_metrics
    write_metrics(*_run_of(args), args.samples, args.data, args.classifier, args.out)


@command('reference-metrics', 'metrics of held-out data vs training data (the floor)', CONFIG, DATASET, DATA,
         CLASSIFIER, OUT)
def cmd_reference_metrics(args):
    from act_bench.evaluation.bundled_jobs import write_reference_metrics
    write_reference_metrics(_config_of(args), args.dataset, args.data, args.classifier, args.out)


@command('metric-curve', "metrics of a run's EMA snapshots over training (train.snapshot_every)", *RUN,
         arg('--run-dir', required=True), DATA, CLASSIFIER, OUT)
def cmd_metric_curve(args):
    from act_bench.evaluation.metric_curve import write_metric_curve
    write_metric_curve(*_run_of(args, threads=True), args.run_dir, args.data, args.classifier, args.out)

#----------------------------------------------------------------------------
# Inception FID / IS of the image datasets (act_bench.evaluation.inception_jobs).

@command('fid-reference', 'Inception reference statistics of an image dataset (computed or imported)', CONFIG,
         DATASET, arg('--mode', required=True, help="FID mode of the output file (must be the config's)"),
         arg('--data', help='the converted ImageNet64 folder'), OUT)
def cmd_fid_reference(args):
    from act_bench.evaluation.inception_jobs import write_fid_reference
    config = _config_of(args, threads=True)
    print(json.dumps(write_fid_reference(config, args.dataset, args.mode, args.data, args.out, _device(config))))


@command('sample-features', "one shard of a run's samples through Inception: statistics (.npz), no images", *RUN,
         FINAL, arg('--shard', type=int, required=True, help='0 .. evaluation.fid.shards - 1'), OUT)
def cmd_sample_features(args):
    from act_bench.evaluation.inception_jobs import write_fid_shard
    config, run = _run_of(args, threads=True)
    write_fid_shard(config, run, args.final, args.shard, args.out, _device(config))


@command('evaluate-fid', 'FID and IS of a run from its merged feature shards', *RUN,
         arg('--features', nargs='+', required=True, help='every shard of the run'),
         arg('--reference', required=True, help='reference statistics (.npz with mu, sigma)'), OUT)
def cmd_evaluate_fid(args):
    from act_bench.evaluation.inception_jobs import write_fid_metrics
    write_fid_metrics(*_run_of(args), args.features, args.reference, args.out)


@command('reference-fid', 'FID and IS of training images vs the reference statistics (the floor)', CONFIG,
         DATASET, arg('--data', help='the converted ImageNet64 folder'), arg('--reference', required=True), OUT)
def cmd_reference_fid(args):
    from act_bench.evaluation.inception_jobs import write_reference_fid
    config = _config_of(args, threads=True)
    write_reference_fid(config, args.dataset, args.data, args.reference, args.out, _device(config))

#----------------------------------------------------------------------------
# Parameter counts (act_bench.report.params).

@command('count-params', "parameter counts of a run's generator and discriminator", *RUN, OUT)
def cmd_count_params(args):
    from act_bench.report.params import write_run_parameter_counts
    write_run_parameter_counts(*_run_of(args), args.out)


@command('postprocess', "a bundled run's samples, metrics, parameter counts and metric curve in one process",
         *RUN, FINAL, DATA, CLASSIFIER, arg('--run-dir', required=True))
def cmd_postprocess(args):
    from act_bench.report.postprocess import postprocess
    postprocess(*_run_of(args, threads=True), args.final, args.data, args.classifier, args.run_dir)


@command('run-settings', "a run's resolved train and evaluation settings and their digests (run.yaml)", *RUN, OUT)
def cmd_run_settings(args):
    from act_bench.settings import write_run_settings
    write_run_settings(*_run_of(args), args.out)


@command('params', "parameter counts of a config's networks (JSON), beside the official and paper values",
         CONFIG_NAME)
def cmd_params(args):
    from act_bench.report.params import config_parameter_counts
    print(json.dumps(config_parameter_counts(load_config(config_path(args.config))), indent=2))

#----------------------------------------------------------------------------
# Reports (act_bench.report).

@command('aggregate', 'one row per run: results/<config>/summary.csv', CONFIG, RUNS, OUT,
         arg('--resolved-config', help='also write the resolved config (defaults filled in) here'))
def cmd_aggregate(args):
    from act_bench.report.aggregate import aggregate
    from act_bench.settings import write_yaml
    config = _config_of(args)
    aggregate(config, _runs_at(config, args.runs)).to_csv(args.out, index=False)
    if args.resolved_config:
        write_yaml(config, args.resolved_config)


@command('table', 'comparison and ablation tables (Markdown and LaTeX): summary and ablations',
         arg('--summary', required=True),
         arg('--reference', nargs='*', default=[], help='data-floor JSON files (reference_metrics rule)'),
         arg('--estimate', help='projected GPU-hours per run (JSON of act-bench estimate)'),
         arg('--run', dest='runs', action='append', default=[], metavar='DIR',
             help='a run directory whose metric curve feeds the equal-cost comparison (repeat per run)'),
         arg('--spread', choices=['std', 'ci95'], default='std',
             help="cells: mean ± std, or mean and 95%% t-interval (the config's report.spread)"),
         arg('--out-dir', required=True))
def cmd_table(args):
    from act_bench.report.tables import write_tables
    for path in write_tables(args.summary, args.reference, args.out_dir, args.estimate, args.runs, args.spread):
        print(f'wrote {path}')


@command('plots', "seaborn plots of one dataset's runs (PNG and PDF)", CONFIG, arg('--summary', required=True),
         DATASET, RUNS, arg('--out-dir', required=True))
def cmd_plots(args):
    from act_bench.data.kinds import kind_of
    from act_bench.report.plots import write_plots
    config = _config_of(args)
    kind = kind_of(_dataset(config, args.dataset))
    for path in write_plots(args.summary, args.runs, args.dataset, kind, args.out_dir, config['report']['spread']):
        print(f'wrote {path}')

@command('study', "the config's study: the paper's claims with intervals over seeds (study.md, .tex, plots)",
         CONFIG, arg('--summary', required=True),
         arg('--run', dest='runs', action='append', default=[], metavar='DIR',
             help='a run directory whose metric curve feeds the steps claim and plot (repeat per run)'),
         arg('--out-dir', required=True, help='reports/<name>: study.md there, plots under <dataset>/'))
def cmd_study(args):
    from act_bench.report.study import write_study
    for path in write_study(_config_of(args), args.summary, args.runs, args.out_dir):
        print(f'wrote {path}')

#----------------------------------------------------------------------------
# Timing (act_bench.perf.commands).

TIMING = (CONFIG_NAME,
          arg('--runs', nargs='*', default=[], help="only runs whose results path matches one of these globs, e.g. "
                                                    "'*/act/batch80/*/aug-on/*'"),
          arg('--device', default='auto', help="auto (the config's device), cpu or cuda"),
          arg('--distance', help='override train.distance (e.g. l2 when the LPIPS weights are absent)'),
          arg('--precision', choices=['fp32', 'bf16', 'fp16'], help='override train.precision'),
          arg('--threads', type=int, help="CPU threads (default: the config's, at most the cores)"),
          arg('--out', help='also write the JSON here'),
          arg('--steps', type=int, default=2, help='timed iterations per kind (R1 / plain) per repeat'))


@command('bench', 'images/s, ms per step, memory and MFU of training and sampling, per set of speed-ups',
         *TIMING, arg('--batch', type=int, help="batch size (default: each run's)"),
         arg('--repeats', type=int, default=3, help='interleaved repeats of every variant'),
         arg('--markdown', help='also write a short Markdown summary here'),
         arg('--variants', nargs='*', help='speed-up sets to time, e.g. none default foreach+sdpa (default: none, '
                                           'default, default minus / plus each one)'))
def cmd_bench(args):
    from act_bench.perf.commands import BENCH_FLAGS, run_bench
    run_bench(load_config(config_path(args.config)), args.config, args.runs, args.variants,
              {flag: getattr(args, flag) for flag in BENCH_FLAGS})


@command('estimate', 'projected wall time and GPU-hours of each run of a config, from short timed segments',
         *TIMING, arg('--warmup', type=int, default=1, help='untimed iterations per kind first'),
         arg('--sample-batch', type=int, help='sampling batch timed (default: evaluation.batch_size)'),
         arg('--batch', type=int, help="time steps at this smaller batch and scale linearly to each run's batch "
                                       '(paper configs on a CPU)'))
def cmd_estimate(args):
    from act_bench.perf.commands import run_estimate
    run_estimate(load_config(config_path(args.config)), args.runs, args.steps, args.warmup, args.sample_batch,
                 args.device, args.batch, args.threads, args.distance, args.precision, args.out)

#----------------------------------------------------------------------------

class OneLinePerCommand(argparse.HelpFormatter):
    """`act-bench --help` with each command and its help on one line."""

    def __init__(self, prog):
        super().__init__(prog, max_help_position=26, width=124)
        self._action_max_length = 24   # argparse leaves the commands' own indent out of the help column


def build_parser():
    parser = argparse.ArgumentParser(prog='act-bench', description='CT vs ACT benchmark suite',
                                     formatter_class=OneLinePerCommand)
    sub = parser.add_subparsers(dest='command', required=True, metavar='<command>')
    for name, help_text, handler, arguments in COMMANDS:
        p = sub.add_parser(name, help=help_text, description=help_text)
        for flags, options in arguments:
            p.add_argument(*flags, **options)
        p.set_defaults(func=handler)
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
