"""The one training loop for CT and ACT. It knows neither the method nor the network: the loss
object carries the method (CT, or ACT with its discriminator), the networks come from
`networks.build_*`. Three sets of generator weights (ct-spec §5): the online network θ (trained), the
target θ⁻ (μ(k), in the loss) and the evaluation EMA (β from `train.ema`, never in the loss).
Progress is logged in images seen, wall time and memory."""

import contextlib
import copy
import json
import math
import os
import signal
import threading
import time
from pathlib import Path

import torch

from act_bench import layout
from act_bench.runtime import checkpoint as ckpt
from act_bench.runtime import distributed
from act_bench.data.samplers import BatchSampler, DatasetSampler
from act_bench.data.bundled import load_training_data
from act_bench.data.kinds import kind_of
from act_bench.runtime.device import peak_memory_mb, resolve_device
from act_bench.training.build import build_generator, build_loss, mixed_precision
from act_bench.training.ema import update_ema
from act_bench.training.schedules import discretisation_steps, evaluation_ema_decay, target_ema_decay
from act_bench.training import speedups
from act_bench.runtime.snapshots import NETWORK_KEYS, generator_weights, save_snapshot


class TrainingDiverged(RuntimeError):
    """A non-finite loss; the last good checkpoint is kept."""


class TrainingInterrupted(RuntimeError):
    """Stopped by SIGTERM/SIGUSR1 after writing a checkpoint; rerunning resumes."""
    exit_code = 75   # EX_TEMPFAIL: worth retrying

#----------------------------------------------------------------------------


class Training:
    """Everything a run's state consists of, built from its spec; `state_dict` is the checkpoint."""

    def __init__(self, run, dataset_spec, model_spec, data, device):
        """`data`: an array of training samples (bundled data) or a dataset of (image, label) items."""
        self.run, self.train = run, run.train
        self.device = device
        self.kind = kind_of(dataset_spec)
        self.shape = tuple(data.shape[1:]) if torch.is_tensor(data) else tuple(data[0][0].shape)
        self.num_classes = None if torch.is_tensor(data) else getattr(data, 'num_classes', None)
        torch.manual_seed(run.seed)
        self.net = build_generator(self.shape, model_spec, self.train, self.num_classes).to(device)
        self.target = copy.deepcopy(self.net).eval().requires_grad_(False)
        self.ema = copy.deepcopy(self.net).eval().requires_grad_(False)
        self.optimizer = torch.optim.RAdam(self.net.parameters(), lr=self.train['lr'],
                                           betas=tuple(self.train['betas']))
        self.loss = build_loss(run.method, self.kind, self.shape, model_spec, self.train,
                               run.batch_size, run.augment, device, self.num_classes)
        self.autocast, self.scaler = mixed_precision(self.train['precision'], device)
        if torch.is_tensor(data):
            self.sampler = BatchSampler(data, seed=run.seed + 1, device=device)
        else:
            self.sampler = DatasetSampler(data, seed=run.seed + 1, device=device,
                                          random_flip=dataset_spec.get('random_flip', False))
        self.step = 0
        self.timers = {'train_seconds': 0.0, 'checkpoint_seconds': 0.0, 'lost_seconds': 0.0}
        self.attempts = 0
        self.slurm_job_ids = []   # one per attempt that ran under SLURM
        self.ema_update = update_ema
        self.use_speedups(speedups.configured_speedups(self.train))

    #------------------------------------------------------------------------
    # Hooks through which act_bench.training.speedups switches speed-ups, also after construction.

    def use_speedups(self, names):
        """Switch to exactly the named speed-ups (the benchmark times several sets on one Training)."""
        self.speedups = speedups.configure(self, names)

    def networks(self):
        """{name: module} of every network trained (the loss's too), the target and the evaluation EMA."""
        return {'generator': self.net, 'target network': self.target, 'evaluation EMA': self.ema,
                **self.loss.networks()}

    def set_ema_update(self, update):
        """`update(ema, net, mu)` updates the target network and the evaluation EMA after each step."""
        self.ema_update = update

    def set_optimizer_option(self, key, value):
        """Set an option (e.g. 'foreach') of every optimiser, the loss's included."""
        for optimizer in [self.optimizer, *self.loss.optimizers()]:
            optimizer.defaults[key] = value
            for group in optimizer.param_groups:
                group[key] = value

    def wrap_sampler(self, wrap):
        """Draw batches from `wrap(sampler)` (e.g. a prefetching wrapper, or the unwrapped sampler again)."""
        self.sampler = wrap(self.sampler)

    def set_memory_format(self, memory_format):
        for net in self.networks().values():
            net.to(memory_format=memory_format)

    def compile_generator(self, on):
        """torch.compile of the generator and its target, or back to eager."""
        for net in (self.net, self.target):
            if on and getattr(net, '_compiled_call_impl', None) is None:
                net.compile()
            elif not on:
                net._compiled_call_impl = None

    def set_optimizer_steps(self, make_step):
        """Every optimiser (the loss's included) steps through `make_step(optimizer)`, or its own step for None."""
        for optimizer in [self.optimizer, *self.loss.optimizers()]:
            vars(optimizer).pop('step', None)
            if make_step is not None:
                optimizer.step = make_step(optimizer)

    #------------------------------------------------------------------------

    def schedule(self, step):
        t = self.train
        n = discretisation_steps(step, t['iterations'], t['s0'], t['s1'], t['schedule'])
        return n, target_ema_decay(n, t['s0'], t['mu0'])

    def evaluation_ema_beta(self):
        """β of this step's evaluation-EMA update (EDM's half-life in generator images, with ramp-up)."""
        batch, ema = self.run.batch_size, self.train['ema']
        return evaluation_ema_decay(batch, self.step * batch, ema['halflife_images'], ema['rampup_ratio'])

    def training_step(self):
        """One iteration: generator step, the loss's extra step (ACT: discriminator), target and evaluation EMA."""
        n, mu = self.schedule(self.step)
        images, labels, batch = distributed.local_batch(self.sampler, self.loss.batch_segments(self.run.batch_size))
        g_labels, d_labels = (labels[:batch], labels[batch:]) if labels is not None else (None, None)
        with torch.autocast(**self.autocast):
            loss = self.loss(self.net, images[:batch], self.target, n, g_labels).float().mean()
        global_loss = distributed.average(loss)   # the same on every rank: all stop together
        if not torch.isfinite(global_loss):
            raise TrainingDiverged(f'the generator loss became {global_loss.item()} at step {self.step}')
        self.optimizer.zero_grad(set_to_none=True)
        self.scaler.scale(loss).backward()
        distributed.average_gradients(self.net)
        self.scaler.step(self.optimizer)
        self.scaler.update()
        self.loss.after_generator_step(self.net, images[batch:], n, self.step, d_labels)
        self.ema_update(self.target, self.net, mu)
        self.ema_update(self.ema, self.net, self.evaluation_ema_beta())
        self.step += 1
        return {'loss': global_loss.item(), 'N': n, 'mu': mu, **self.loss.stats}

    def state_dict(self):
        return {'step': self.step, 'net': self.net.state_dict(), 'target': self.target.state_dict(),
                'ema': self.ema.state_dict(),
                'optimizer': self.optimizer.state_dict(), 'scaler': self.scaler.state_dict(),
                'loss': self.loss.state_dict(),
                'sampler': self.sampler.state_dict(), 'torch_rng': torch.get_rng_state(),
                'cuda_rng': torch.cuda.get_rng_state_all() if self.device.type == 'cuda' else [],
                'timers': dict(self.timers), 'attempts': self.attempts, 'slurm_job_ids': list(self.slurm_job_ids)}

    def load_state_dict(self, state):
        self.step = state['step']
        self.net.load_state_dict(state['net'])
        self.target.load_state_dict(state['target'])
        self.ema.load_state_dict(state['ema'])
        self.optimizer.load_state_dict(state['optimizer'])
        if state['scaler']:
            self.scaler.load_state_dict(state['scaler'])
        self.loss.load_state_dict(state['loss'])
        self.sampler.load_state_dict(state['sampler'])
        torch.set_rng_state(state['torch_rng'])
        if state['cuda_rng'] and self.device.type == 'cuda':
            torch.cuda.set_rng_state_all(state['cuda_rng'])
        self.timers = dict(state['timers'])
        self.attempts = state['attempts']
        self.slurm_job_ids = list(state.get('slurm_job_ids', []))


#----------------------------------------------------------------------------


@contextlib.contextmanager
def stop_signals():
    """SIGTERM and SIGUSR1 (a scheduler's pre-emption or time-limit warning) only set a flag, which
    the loop checks after each step: it then writes a checkpoint and stops with a retryable code."""
    received = []
    if threading.current_thread() is not threading.main_thread():
        yield received
        return
    previous = {s: signal.signal(s, lambda signum, frame: received.append(signum))
                for s in (signal.SIGTERM, signal.SIGUSR1)}
    try:
        yield received
    finally:
        for s, handler in previous.items():
            signal.signal(s, handler)


def log_record(training, stats, seconds, device):
    step, batch = training.step, training.run.batch_size
    return {'step': step, 'images_seen': step * batch,
            'data_images_seen': step * batch * training.loss.data_per_generator_image,
            **stats, 'wall_seconds': round(seconds, 3), 'device': device.type,
            'peak_memory_mb': round(peak_memory_mb(device), 1)}


def training_loop(run, dataset_spec, model_spec, data_path, run_dir, device='auto', progress=None):
    """Train one run to completion, resuming from the newest checkpoint under run_dir/checkpoints."""
    run_dir = Path(run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    device = resolve_device(device)
    training = Training(run, dataset_spec, model_spec, load_training_data(dataset_spec, data_path), device)
    resumed = ckpt.load_latest(run_dir / layout.CHECKPOINTS, training)
    training.attempts += 1
    if os.environ.get('SLURM_JOB_ID'):
        training.slurm_job_ids.append(os.environ['SLURM_JOB_ID'])
    log_path = run_dir / layout.TRAIN_LOG
    main = distributed.is_main()   # with several ranks, only rank 0 writes files
    if main:
        # compute done after the newest checkpoint by an attempt that died still counts as spent
        lost = ckpt.truncate_log(log_path, training.step) - training.timers['train_seconds']
        training.timers['lost_seconds'] = training.timers.get('lost_seconds', 0.0) + max(lost, 0.0)
    K, t = run.train['iterations'], run.train
    with open(log_path if main else os.devnull, 'a') as log, stop_signals() as signals:
        start = time.perf_counter()
        while training.step < K:
            stats = guarded_step(training, run_dir)
            step = training.step
            stop = distributed.any_rank(signals)   # a signal to any rank stops all at the same step
            if step % t['log_every'] == 0 or step == K or step == 1 or stop:
                seconds = training.timers['train_seconds'] + time.perf_counter() - start
                record = log_record(training, distributed.average_stats(stats), seconds, device)
                log.write(json.dumps(record) + '\n')
                log.flush()
                if progress:
                    progress(record)
            if t['snapshot_every'] and step % t['snapshot_every'] == 0:
                start = save_snapshot(training, run_dir / layout.SNAPSHOTS, start)
            if step % t['checkpoint_every'] == 0 or step == K or stop:
                start = checkpoint(training, run_dir, start)
            if stop and step < K:
                distributed.barrier()   # rank 0's checkpoint is on disk before any rank exits
                what = f'signal {signal.Signals(signals[0]).name}' if signals else 'a stop signal to another rank'
                raise TrainingInterrupted(f'{what} at step {step}: the checkpoint '
                                          'is written; run the same command again to resume')
        training.timers['train_seconds'] += time.perf_counter() - start
    if main:
        write_outputs(training, run_dir, device, resumed)
    return training


def kept_checkpoint(run_dir):
    files = ckpt.checkpoint_files(Path(run_dir) / layout.CHECKPOINTS)
    return f'the last good checkpoint {files[-1]} is kept' if files else 'no checkpoint had been written yet'


def guarded_step(training, run_dir):
    """One training step; a non-finite loss stops the run with the step and the checkpoint that is kept."""
    try:
        return training.training_step()
    except TrainingDiverged as e:
        raise TrainingDiverged(f'{e}; training stopped and {kept_checkpoint(run_dir)}') from None


def check_finite_weights(training, run_dir):
    """Refuse to checkpoint non-finite weights (a diverged D step, an inf gradient): the good one stays."""
    for name, net in training.networks().items():
        if not all(bool(torch.isfinite(p).all()) for p in net.parameters()):
            raise TrainingDiverged(f'the {name} weights became non-finite at step {training.step}; training '
                                   f'stopped without saving them and {kept_checkpoint(run_dir)}')


def checkpoint(training, run_dir, start):
    """Save a checkpoint; the time it takes is booked apart from training. Returns the new start time."""
    check_finite_weights(training, run_dir)
    now = time.perf_counter()
    training.timers['train_seconds'] += now - start
    if distributed.is_main():
        ckpt.save_rotating(run_dir / layout.CHECKPOINTS, training)
    after = time.perf_counter()
    training.timers['checkpoint_seconds'] += after - now
    return after


def write_outputs(training, run_dir, device, resumed):
    run = training.run
    ckpt.atomic_save({**generator_weights(training, NETWORK_KEYS), 'shape': list(training.shape),
                      'data_kind': training.kind.name, 'num_classes': training.num_classes, 'step': training.step},
                     run_dir / layout.FINAL)
    seconds = sum(training.timers.values())
    n_devices = distributed.get_world_size()
    summary = {**run.wildcards, 'iterations': training.step,
               'images_seen': training.step * run.batch_size,
               'train_seconds': training.timers['train_seconds'],
               'checkpoint_seconds': training.timers['checkpoint_seconds'],
               'lost_seconds': training.timers['lost_seconds'],
               'wall_seconds': seconds, 'device': device.type,
               'device_name': torch.cuda.get_device_name(device) if device.type == 'cuda' else 'cpu',
               'n_devices': n_devices, 'device_hours': seconds * n_devices / 3600,
               'attempts': training.attempts, 'resumed_from_step': resumed,
               'slurm_job_id': os.environ.get('SLURM_JOB_ID'), 'slurm_job_ids': training.slurm_job_ids,
               'torch': torch.__version__,
               'final_loss': math.nan}
    with open(run_dir / layout.TRAIN_LOG) as f:
        lines = f.read().splitlines()
    if lines:
        summary['final_loss'] = json.loads(lines[-1])['loss']
    (run_dir / layout.TRAIN_SUMMARY).write_text(json.dumps(summary, indent=2) + '\n')
