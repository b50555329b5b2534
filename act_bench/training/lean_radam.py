"""RAdam's step with its step-size factors computed once per parameter group (the 'lean_radam' speed-up).

torch's foreach RAdam turns every parameter's step count into Python floats (four `.item()` calls and
the rectification arithmetic per parameter) before the same few multi-tensor kernels; a training step
advances every parameter of a group together, so one set of factors serves them all. The kernels and
their scalars are those of `torch.optim.radam._multi_tensor_radam`, so the result is bitwise that of
RAdam(foreach=True); the optimiser's state (step, exp_avg, exp_avg_sq) is RAdam's own, so checkpoints
are unchanged. Groups this does not cover (weight decay, maximize, capturable, differentiable, complex,
a tensor lr, unequal step counts) run RAdam's own step.
"""

import torch


def lean_radam_step(optimizer):
    """One RAdam step of `optimizer`; bitwise RAdam(foreach=True)."""
    groups = [(group, group_tensors(optimizer, group)) for group in optimizer.param_groups]
    if not all(covered(group, tensors) for group, tensors in groups):
        return type(optimizer).step(optimizer)
    with torch.no_grad():
        for group, tensors in groups:
            if tensors[0]:
                update(group, *tensors)
    return None


def group_tensors(optimizer, group):
    """(params, grads, exp_avgs, exp_avg_sqs, steps) of the parameters with a gradient; state as RAdam creates it."""
    params = [p for p in group['params'] if p.grad is not None]
    for p in params:
        state = optimizer.state[p]
        if not state:
            state['step'] = torch.tensor(0.0, dtype=torch.get_default_dtype())
            state['exp_avg'] = torch.zeros_like(p, memory_format=torch.preserve_format)
            state['exp_avg_sq'] = torch.zeros_like(p, memory_format=torch.preserve_format)
    states = [optimizer.state[p] for p in params]
    return (params, [p.grad for p in params], [s['exp_avg'] for s in states], [s['exp_avg_sq'] for s in states],
            [s['step'] for s in states])


def covered(group, tensors):
    params, grads, _, _, steps = tensors
    plain = (group['weight_decay'] == 0 and not group['maximize'] and not group['capturable']
             and not group['differentiable'] and not torch.is_tensor(group['lr']))
    if not plain or any(p.is_complex() or p.grad.is_sparse for p in params):
        return False
    if not steps:
        return True
    one_device = all(p.device == params[0].device and p.dtype == params[0].dtype for p in params)
    stacked = torch.stack(steps)
    return one_device and all(s.is_cpu for s in steps) and bool((stacked == stacked[0]).all())


def step_factors(step, beta1, beta2, lr):
    """RAdam's (bias correction 2 term, unrectified step size) for step number `step`, as torch computes them."""
    rho_inf = 2 / (1 - beta2) - 1
    rho_t = rho_inf - 2 * step * (beta2 ** step) / (1 - beta2 ** step)
    rect = ((rho_t - 4) * (rho_t - 2) * rho_inf / ((rho_inf - 4) * (rho_inf - 2) * rho_t)) ** 0.5 if rho_t > 5 else 0
    unrectified = 0 if rect > 0 else 1.0
    bias_correction1 = 1 - beta1 ** step
    unrect_step_size = (lr * unrectified / bias_correction1) * -1
    bias_correction2 = ((1 - beta2 ** step) ** 0.5) * (lr * rect / bias_correction1) * -1
    return bias_correction2, unrect_step_size


def update(group, params, grads, exp_avgs, exp_avg_sqs, steps):
    beta1, beta2 = group['betas']
    torch._foreach_add_(steps, torch.tensor(1.0, device='cpu'), alpha=1.0)
    bias_correction2, unrect_step_size = step_factors(steps[0].item(), beta1, beta2, group['lr'])
    torch._foreach_lerp_(exp_avgs, grads, 1 - beta1)
    torch._foreach_mul_(exp_avg_sqs, beta2)
    torch._foreach_addcmul_(exp_avg_sqs, grads, grads, 1 - beta2)
    buffer = torch._foreach_sqrt(exp_avg_sqs)
    torch._foreach_add_(buffer, group['eps'])
    torch._foreach_div_(buffer, bias_correction2)
    torch._foreach_reciprocal_(buffer)
    torch._foreach_add_(buffer, unrect_step_size)
    torch._foreach_addcmul_(params, exp_avgs, buffer)
