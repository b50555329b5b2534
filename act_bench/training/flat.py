"""One contiguous buffer per network (the 'flat' speed-up): RAdam and the EMA updates as single-tensor ops.

On a CPU a multi-tensor (foreach) kernel is a C++ loop of one small op per parameter; a 75k-parameter
MLP has 14 parameters and RAdam makes ten such passes per step, each op costing more in dispatch than in
arithmetic. Here every parameter of a network becomes a view of one buffer (`FlatParameters`), RAdam's
exp_avg and exp_avg_sq likewise, so each pass is one op over the buffer: `lean_radam.update` itself on
one-element lists. Elementwise ops do not depend on where an element sits, so
weights, losses and the optimiser state are bitwise those of 'foreach' + 'lean_radam' (test). The state
stays RAdam's own per-parameter tensors (views), so checkpoints keep their format; after a resume has
replaced them, the next step rebuilds the buffers from them. Whatever this does not cover (parameters
that are not all contiguous, e.g. under 'channels_last'; several groups; a missing gradient; groups
`lean_radam` does not cover) takes the 'lean_radam' step, and EMA updates the foreach one.
"""

import torch

from act_bench.training.ema import update_ema_foreach
from act_bench.training.lean_radam import covered, group_tensors, lean_radam_step, update


class FlatParameters:
    """Parameters (of one network) as consecutive views of one buffer, `flat` (None where they cannot be:
    no parameters, mixed dtypes or devices, or a parameter that is not contiguous)."""

    def __init__(self, params):
        self.params = list(params)
        self.flat, self.pointers = None, []
        if self.params and all(p.is_contiguous() and p.dtype == self.params[0].dtype
                               and p.device == self.params[0].device for p in self.params):
            self.flat = pack(self.params)
            self.pointers = [p.data_ptr() for p in self.params]

    def intact(self):
        """Whether every parameter is still the view it was made (a `.to(memory_format=...)` replaces them)."""
        return self.flat is not None and all(p.data_ptr() == q for p, q in zip(self.params, self.pointers))


def pack(tensors):
    """One buffer holding `tensors` one after another; each tensor's data becomes its view there."""
    flat = torch.cat([t.detach().reshape(-1) for t in tensors])
    offset = 0
    for t in tensors:
        t.data = flat[offset:offset + t.numel()].view_as(t)
        offset += t.numel()
    return flat


def flatten(modules):
    """{id(module): FlatParameters of its parameters} for the given modules (each packed once, also where
    one module is listed twice, e.g. a target network that is the online network)."""
    distinct = {id(m): m for m in modules}
    return {key: FlatParameters(m.parameters()) for key, m in distinct.items()}


def flat_of(flats, params):
    """The FlatParameters among `flats` holding exactly `params` in this order, or None."""
    params = list(params)
    for flat in flats.values():
        if len(flat.params) == len(params) and all(p is q for p, q in zip(flat.params, params)):
            return flat
    return None


class FlatEMA:
    """`update(ema, net, mu)` as one lerp over the two buffers where both are flat, else update_ema_foreach."""

    def __init__(self, flats, modules):
        self.flats = flats
        self.has_buffers = {id(m): any(True for _ in m.buffers()) for m in modules}

    def __call__(self, ema, net, mu):
        a, b = self.flats.get(id(ema)), self.flats.get(id(net))
        if a is None or b is None or not (a.intact() and b.intact()) or a.flat.shape != b.flat.shape:
            return update_ema_foreach(ema, net, mu)
        with torch.no_grad():
            a.flat.lerp_(b.flat, 1 - mu)
            if self.has_buffers.get(id(ema), True):
                torch._foreach_copy_(list(ema.buffers()), list(net.buffers()))
        return None


class FlatRAdam:
    """The step of one RAdam optimiser whose parameters are `flat` (a FlatParameters, or None: always the
    'lean_radam' step); called in place of `optimizer.step`."""

    def __init__(self, optimizer, flat):
        self.optimizer, self.parameters = optimizer, flat
        self.views = None   # the per-parameter state tensors this made: (exp_avgs, exp_avg_sqs, steps)
        self.exp_avg = self.exp_avg_sq = None

    def __call__(self):
        group = self.optimizer.param_groups[0] if len(self.optimizer.param_groups) == 1 else None
        params = self.parameters.params if self.parameters is not None else []
        if (group is None or self.parameters is None or not self.parameters.intact() or len(group['params']) != len(params)
                or any(p is not q or p.grad is None for p, q in zip(group['params'], params))):
            self.views = None
            return lean_radam_step(self.optimizer)
        if not self.state_is_flat() and not self.make_state_flat(group):
            return lean_radam_step(self.optimizer)
        with torch.no_grad():
            grad = torch.cat([p.grad.reshape(-1) for p in params])
            # lean_radam's own update on one-element lists: the same ops, once over each buffer
            update(group, [self.parameters.flat], [grad], [self.exp_avg], [self.exp_avg_sq], self.views[2])
        return None

    def state_is_flat(self):
        if self.views is None:
            return False
        state = self.optimizer.state
        return all(state[p].get('exp_avg') is m for p, m in zip(self.parameters.params, self.views[0]))

    def make_state_flat(self, group):
        """RAdam's state (created as RAdam creates it, or the loaded one) as views of two buffers."""
        tensors = group_tensors(self.optimizer, group)
        if not covered(group, tensors):
            self.views = None
            return False
        _, _, exp_avgs, exp_avg_sqs, steps = tensors
        self.exp_avg, self.exp_avg_sq = pack(exp_avgs), pack(exp_avg_sqs)
        self.views = (exp_avgs, exp_avg_sqs, steps)
        return True
