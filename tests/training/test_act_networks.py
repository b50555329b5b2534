"""Paper-scale ACT networks: parameter counts (act-spec §6), shapes, R1 double backward."""

import pytest
import torch
from diffusers.models.attention_processor import Attention, AttnProcessor

from act_bench.training.networks import ConsistencyModel, SigmaConditioned
from act_bench.training.build import count_parameters
from act_bench.training.act_networks import (OFFICIAL_COUNTS, PAPER_COUNTS_M, PAPER_NETWORKS,
                                      build_paper_discriminator, build_paper_generator)

torch.set_num_threads(1)
BUILDERS = {'generator': build_paper_generator, 'discriminator': build_paper_discriminator}


@pytest.fixture(scope='module')
def cifar():
    torch.manual_seed(0)
    return build_paper_generator('cifar10'), build_paper_discriminator('cifar10')


@pytest.mark.parametrize('name', list(PAPER_NETWORKS))
@pytest.mark.parametrize('kind', list(BUILDERS))
def test_parameter_counts_match_official(name, kind):
    n = count_parameters(BUILDERS[kind](name))
    assert n == OFFICIAL_COUNTS[name][kind]
    assert abs(n / 1e6 - PAPER_COUNTS_M[name][kind]) <= 1e-3 * PAPER_COUNTS_M[name][kind]
    assert round(n / 1e6, 2) == PAPER_COUNTS_M[name][kind]


def test_quirk_switches_change_counts_by_the_expected_amounts():
    g3 = build_paper_generator('cifar10', official_six_channels=False)
    assert OFFICIAL_COUNTS['cifar10']['generator'] - count_parameters(g3) == 128 * 3 * 9 + 3
    d = build_paper_discriminator('lsun_cat256', unused_head=False)
    assert OFFICIAL_COUNTS['lsun_cat256']['discriminator'] - count_parameters(d) == 4 * 512 + 1


def test_cifar_forward_shapes(cifar):
    G, D = cifar
    x, sigma = torch.randn(2, 3, 32, 32), torch.tensor([0.01, 40.0])
    with torch.no_grad():
        out = G(x, sigma)
        logits = D(x, sigma)
        f = ConsistencyModel(G, sigma_embedding='raw')(x, sigma)
    assert out.shape == (2, 3, 32, 32) and torch.isfinite(out).all()
    assert logits.shape == (2,) and torch.isfinite(logits).all()
    assert f.shape == (2, 3, 32, 32) and torch.isfinite(f).all()
    assert G.unet.conv_out.out_channels == 6 and G.keep_channels == 3  # official quirk


def test_cifar_discriminator_r1_double_backward(cifar):
    _, D = cifar
    D.zero_grad(set_to_none=True)
    x = torch.randn(2, 3, 32, 32, requires_grad=True)
    logits = SigmaConditioned(D, 'raw')(x, torch.tensor([0.5, 5.0]))
    assert logits.shape == (2,)
    (g,) = torch.autograd.grad(logits.sum(), x, create_graph=True)
    (g ** 2).sum().backward()
    grads = {n: p.grad for n, p in D.named_parameters()}
    # ∂D/∂x does not depend on the output bias; to_logit_fx is the official unused head.
    missing = {n for n, v in grads.items() if v is None}
    assert missing == {'head.4.bias', 'to_logit_fx.weight', 'to_logit_fx.bias'}
    assert all(torch.isfinite(v).all() for v in grads.values() if v is not None)
    assert all(isinstance(m.processor, AttnProcessor) for m in D.modules() if isinstance(m, Attention))
    attn = D.down[1].attentions[0].to_q.weight.grad
    assert attn is not None and attn.abs().sum() > 0


def test_imagenet_networks_take_class_labels():
    torch.manual_seed(0)
    x, sigma, y = torch.randn(1, 3, 64, 64), torch.tensor([1.0]), torch.tensor([7])
    G, D = build_paper_generator('imagenet64'), build_paper_discriminator('imagenet64')
    with torch.no_grad():
        out, logits = G(x, sigma, y), D(x, sigma, y)
        other = D(x, sigma, torch.tensor([8]))
    assert out.shape == (1, 3, 64, 64) and torch.isfinite(out).all()
    assert logits.shape == (1,) and torch.isfinite(logits).all()
    assert not torch.equal(logits, other)
    with pytest.raises(ValueError):
        D(x, sigma)
