import copy

import pytest
import torch
import torch.nn.functional as F

from act_bench.training.loss import pseudo_huber_distance
from act_bench.training.loop import Training


def _training(make_run, dataset='digits', **train):
    run = make_run(dataset=dataset, method='act', **train)
    torch.manual_seed(0)
    shape = (2,) if dataset == 'toy' else (1, 16, 16)
    data = torch.randn(64, *shape).clamp(-1, 1)
    kind = 'toy2d' if dataset == 'toy' else 'digits'
    return Training(run, {'kind': kind}, {'mlp_hidden': 32, 'mlp_layers': 2, 'unet_channels': [8, 16],
                                          'disc_channels': [8, 16], 'unet_layers_per_block': 1,
                                          'disc_layers_per_block': 1, 'norm_groups': 4},
                    data, torch.device('cpu'))


def _params(module):
    return [p.detach().clone() for p in module.parameters()]


def _same(a, b):
    return all(torch.equal(x, y) for x, y in zip(a, b))


@pytest.mark.parametrize('dataset', ['toy', 'digits'])
def test_generator_step_leaves_discriminator_untouched(make_run, dataset):
    tr = _training(make_run, dataset)
    D = tr.loss.D
    before = _params(D)
    images = tr.sampler(8)[0]
    loss = tr.loss(tr.net, images, tr.target, 10).mean()
    tr.optimizer.zero_grad()
    loss.backward()
    tr.optimizer.step()
    assert all(p.grad is None for p in D.parameters())
    assert all(p.requires_grad for p in D.parameters())
    assert _same(before, _params(D))
    assert any(p.grad is not None and p.grad.abs().sum() > 0 for p in tr.net.parameters())


@pytest.mark.parametrize('dataset', ['toy', 'digits'])
def test_discriminator_step_leaves_generator_untouched(make_run, dataset):
    tr = _training(make_run, dataset)
    g_before, d_before = _params(tr.net), _params(tr.loss.D)
    tr.loss.after_generator_step(tr.net, tr.sampler(8)[0], 10, step=0)
    assert all(p.grad is None for p in tr.net.parameters())
    assert _same(g_before, _params(tr.net))
    assert not _same(d_before, _params(tr.loss.D))
    assert tr.loss.stats['r1'] > 0


def test_r1_is_positive_through_attention_double_backward(make_run):
    tr = _training(make_run, 'digits')
    assert any('Attention' in type(m).__name__ for m in tr.loss.D.modules())
    images = tr.sampler(8)[0]
    _, _, r1 = tr.loss.discriminator_losses(tr.net, images, 10, with_r1=True)
    assert (r1 > 0).all()
    r1.mean().backward()  # the double backward R1 needs
    assert any(p.grad is not None and p.grad.abs().sum() > 0 for p in tr.loss.D.parameters())


def test_r1_is_lazy(make_run):
    tr = _training(make_run, 'toy', r1_interval=4)
    tr.loss.r1_interval = 4
    tr.loss.after_generator_step(tr.net, tr.sampler(8)[0], 10, step=3)
    assert 'r1' not in tr.loss.stats
    tr.loss.after_generator_step(tr.net, tr.sampler(8)[0], 10, step=4)
    assert 'r1' in tr.loss.stats


def test_constant_lambda_combines_batch_means(make_run):
    """CIFAR10 form: L_G = 0.7·mean(d) + 0.3·mean(g)."""
    tr = _training(make_run, 'toy')
    images = tr.sampler(8)[0]
    torch.manual_seed(1)
    per_sample = tr.loss(tr.net, images, tr.target, 10)
    torch.manual_seed(1)
    d, out, _, sigma = tr.loss.consistency_terms(tr.net, images, tr.target, 10)
    g = F.softplus(-tr.loss.D(out, sigma))
    assert per_sample.mean().item() == pytest.approx((0.7 * d.mean() + 0.3 * g.mean()).item(), rel=1e-5)


def test_ct_target_uses_adjacent_smaller_sigma_and_shared_noise(make_run):
    run = make_run(dataset='toy', method='ct')
    tr = Training(run, {'kind': 'toy2d'}, {'mlp_hidden': 16, 'mlp_layers': 1}, torch.randn(32, 2),
                  torch.device('cpu'))
    # with the target equal to the online net and N = 2 the pair is (σ_max, σ_min): target = x exactly
    images = tr.sampler(8)[0]
    torch.manual_seed(0)
    index, sigma, sigma_prev = tr.loss.sample_sigmas(8, 2, images.device)
    assert (index == 1).all() and torch.allclose(sigma, torch.tensor(80.0)) and torch.allclose(
        sigma_prev, torch.tensor(0.002))
    net = copy.deepcopy(tr.net)
    torch.manual_seed(0)
    loss = tr.loss(net, images, tr.target, 2)
    torch.manual_seed(0)
    tr.loss.sample_sigmas(8, 2, images.device)
    z = torch.randn_like(images)
    expected = (net(images + 80.0 * z, torch.full((8,), 80.0)) - images - 0.002 * z).square().mean(1)
    assert torch.allclose(loss, expected, atol=1e-6)


def test_pseudo_huber_constant():
    a, b = torch.zeros(1, 3, 32, 32), torch.zeros(1, 3, 32, 32)
    assert pseudo_huber_distance(a, b).item() == 0
    b[0, 0, 0, 0] = 1.0
    c = 0.00054 * (3 * 32 * 32) ** 0.5
    assert pseudo_huber_distance(a, b).item() == pytest.approx((1 + c ** 2) ** 0.5 - c, rel=1e-5)


def test_ict_lognormal_index_distribution_and_weighting(make_run):
    run = make_run(dataset='toy', method='ct', sigma_sampling='lognormal', weighting='ict', mu0=0.0)
    tr = Training(run, {'kind': 'toy2d'}, {'mlp_hidden': 16, 'mlp_layers': 1}, torch.randn(32, 2),
                  torch.device('cpu'))
    from act_bench.training.schedules import karras_sigmas
    grid = karras_sigmas(200)
    probs = tr.loss.index_probabilities(grid)
    assert probs.sum().item() == pytest.approx(1.0, abs=0.01)
    peak = grid[int(probs.argmax()) + 1].item()
    assert 0.1 < peak < 1.0  # the lognormal's mode region around e^−1.1 ≈ 0.33
    torch.manual_seed(0)
    index, sigma, prev = tr.loss.sample_sigmas(4000, 200, 'cpu', 'lognormal')
    assert ((sigma > 0.05) & (sigma < 5)).float().mean() > 0.5
    # the weighted consistency term is d / (σ_i − σ_{i−1})
    images = tr.sampler(8)[0]
    torch.manual_seed(3)
    weighted = tr.loss(tr.net, images, tr.target, 10)
    tr.loss.weighting = 'uniform'
    torch.manual_seed(3)
    plain = tr.loss(tr.net, images, tr.target, 10)
    torch.manual_seed(3)
    _, sigma, prev = tr.loss.sample_sigmas(8, 10, 'cpu', 'lognormal')
    assert torch.allclose(weighted, plain / (sigma - prev), rtol=1e-5)
    assert tr.schedule(5)[1] == 0.0  # iCT teacher: μ = 0
