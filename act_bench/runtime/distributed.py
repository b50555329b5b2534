"""Several GPUs in one job: `torchrun --standalone` processes and torch.distributed, as EDM's
torch_utils/distributed.

`act-bench train` runs itself again under torchrun when the config's resources.train.gpus is N > 1
(`relaunch`); every rank then runs the one training loop on its share of the same global batch:

- every rank draws the whole global batch (indices, σ grid indices, noise, augmentation parameters)
  from the same RNG state and keeps its own rows (`rows`, `local_batch`), so N ranks compute what one
  process computes on the global batch, up to the order of float sums;
- gradients are averaged with one all_reduce per network after backward (`average_gradients`). DDP is
  not used: ACT's generator loss runs the discriminator, the D step runs the generator without grad
  and R1 differentiates D twice (autograd.grad with create_graph=True), and DDP does not support
  double backward; averaging .grad by hand is correct for all of these and needs no wrapper;
- scalars that steer training (the loss checked for NaN, R1 fed to the ACT-Aug controller, the stop
  flag of SIGTERM) are averaged over ranks, so p, the R1 EMA and every decision stay the same on all;
- only rank 0 writes logs, checkpoints and outputs; every rank loads the checkpoint on resume.

Without torchrun (one process) every function here is a no-op.
"""

import contextlib
import os
import sys

import torch
import torch.distributed as td


def get_rank():
    return td.get_rank() if td.is_initialized() else 0


def get_world_size():
    return td.get_world_size() if td.is_initialized() else 1


def is_main():
    return get_rank() == 0


def under_torchrun():
    """True in a process started by torchrun (which sets RANK, WORLD_SIZE, LOCAL_RANK, MASTER_*)."""
    return all(k in os.environ for k in ('RANK', 'WORLD_SIZE', 'LOCAL_RANK', 'MASTER_ADDR', 'MASTER_PORT'))

#----------------------------------------------------------------------------
# Launching.

def torchrun_command(cli_args, nproc):
    """The argument vector that runs `act-bench <cli_args>` in `nproc` processes on this machine.
    A list for exec, never a shell string: config values cannot be interpreted by a shell."""
    return [sys.executable, '-m', 'torch.distributed.run', '--standalone', f'--nproc_per_node={int(nproc)}',
            '-m', 'act_bench.cli', *[str(a) for a in cli_args]]


def relaunch(cli_args, nproc):
    """Replace this process by torchrun running the same command; torchrun forwards SIGTERM to its
    ranks, so the scheduler's signals still reach the training loop."""
    sys.stdout.flush()
    sys.stderr.flush()
    command = torchrun_command(cli_args, nproc)
    os.execv(command[0], command)


@contextlib.contextmanager
def process_group(device):
    """Under torchrun: join the process group (nccl on CUDA, gloo on the CPU) and yield this rank's
    device (cuda:LOCAL_RANK); otherwise yield `device` unchanged."""
    if not under_torchrun():
        yield device
        return
    if device.type == 'cuda':
        local_rank = int(os.environ['LOCAL_RANK'])
        if local_rank >= torch.cuda.device_count():
            raise RuntimeError(f'torchrun started {os.environ["WORLD_SIZE"]} processes but torch sees only '
                               f'{torch.cuda.device_count()} CUDA devices; set resources.train.gpus to at most that')
        device = torch.device('cuda', local_rank)
        torch.cuda.set_device(device)
    td.init_process_group(backend='nccl' if device.type == 'cuda' else 'gloo')
    try:
        yield device
    finally:
        td.destroy_process_group()

#----------------------------------------------------------------------------
# Each rank's share of the global batch.

def rows(draw, n):
    """This rank's n rows of per-sample randomness: `draw(m)` makes m rows; every rank draws the rows
    of the whole global batch (the same on all ranks, which share the RNG state) and keeps its own."""
    world = get_world_size()
    if world == 1:
        return draw(n)
    out = draw(n * world)
    rank = get_rank()
    if isinstance(out, tuple):
        return tuple(x[rank * n:(rank + 1) * n] for x in out)
    return out[rank * n:(rank + 1) * n]


def share(segments):
    """Positions of this rank's rows within one global draw made of consecutive `segments` (their
    sizes): its 1/world of each segment, in order."""
    world, rank = get_world_size(), get_rank()
    keep, start = [], 0
    for size in segments:
        part = size // world
        keep.append(torch.arange(start + rank * part, start + (rank + 1) * part))
        start += size
    return torch.cat(keep)


def local_batch(sampler, segments):
    """(images, labels, generator rows) of this rank for one iteration that draws consecutive `segments`
    of the global data (their sizes, the generator's batch first; the loss says which: ACT draws B, then
    B/2 fake sources and B/2 reals); each rank gets its share of each segment, so its first rows and the
    segments after them mean what they mean in one process."""
    world = get_world_size()
    if world == 1:
        images, labels = sampler(sum(segments))
        return images, labels, segments[0]
    if any(size % world for size in segments):
        raise RuntimeError(f'the batch of {segments[0]} cannot be split evenly over {world} processes (parts of '
                           f'{segments} images); make the batch a multiple of {world * segments[0] // min(segments)}')
    images, labels = sampler(sum(segments), keep=share(segments))
    return images, labels, segments[0] // world

#----------------------------------------------------------------------------
# Reductions.

def average_gradients(module):
    """Mean of every parameter's .grad over the ranks, in one flat all_reduce."""
    world = get_world_size()
    if world == 1:
        return
    params = [p for p in module.parameters() if p.grad is not None]
    if not params:
        return
    flat = torch.cat([p.grad.flatten() for p in params])
    td.all_reduce(flat)
    flat /= world
    for p, g in zip(params, flat.split([p.numel() for p in params])):
        p.grad.copy_(g.view_as(p.grad))


def average(value):
    """Mean over the ranks of a scalar tensor (every rank gets the same value)."""
    world = get_world_size()
    if world == 1:
        return value
    value = value.detach().to(torch.float64 if value.dtype == torch.float64 else torch.float32).clone()
    td.all_reduce(value)
    return value / world


def _comm_device():
    return torch.device('cuda', torch.cuda.current_device()) if td.get_backend() == 'nccl' else torch.device('cpu')


def average_stats(stats):
    """Mean over the ranks of a dict of float statistics (for the log)."""
    if get_world_size() == 1:
        return stats
    keys = sorted(k for k, v in stats.items() if isinstance(v, float))
    values = average(torch.tensor([float(stats[k]) for k in keys], dtype=torch.float64, device=_comm_device()))
    return {**stats, **dict(zip(keys, values.tolist()))}


def any_rank(flag):
    """True on every rank if `flag` is true on any rank (a stop signal reached one of them)."""
    if get_world_size() == 1:
        return bool(flag)
    t = torch.tensor([1.0 if flag else 0.0], device=_comm_device())
    td.all_reduce(t, op=td.ReduceOp.MAX)
    return bool(t.item())


def barrier():
    if get_world_size() > 1:
        td.barrier()
