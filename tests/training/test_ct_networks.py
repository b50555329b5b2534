"""CT baseline networks (ct-spec §8): official parameter counts, shapes, conditioning."""

import copy

import pytest
import torch
from diffusers.models.attention_processor import Attention
from diffusers.models.resnet import ResnetBlock2D

from act_bench.training.ct_networks import CT_NETWORKS, CT_OFFICIAL_COUNTS, build_ct_generator
from act_bench.training.networks import ConsistencyModel
from act_bench.training.build import count_parameters

torch.set_num_threads(1)

# EDM's `ncsnpp` (SongUNet) count: the same network with the Fourier frequencies in a buffer.
EDM_NCSNPP_COUNT = 56_395_523


@pytest.fixture(scope='module')
def cifar():
    torch.manual_seed(0)
    return build_ct_generator('cifar10')


@pytest.fixture(scope='module')
def imagenet():
    # PyTorch default init: with the official zero-init every res block and attention starts
    # as the identity, so neither σ nor the class could change the output.
    torch.manual_seed(0)
    return build_ct_generator('imagenet64', official_init=False).eval()


def test_settings_cover_the_three_datasets():
    assert set(CT_NETWORKS) == set(CT_OFFICIAL_COUNTS) == {'cifar10', 'imagenet64', 'lsun256'}


def test_cifar10_ncsnpp_count_matches_official_exactly(cifar):
    assert count_parameters(cifar) == CT_OFFICIAL_COUNTS['cifar10']
    # The 128 Fourier frequencies are a frozen parameter (Flax param under stop_gradient);
    # without them the count is EDM's ncsnpp preset.
    frozen = [p for p in cifar.parameters() if not p.requires_grad]
    assert [p.numel() for p in frozen] == [128]
    trainable = sum(p.numel() for p in cifar.parameters() if p.requires_grad)
    assert trainable == EDM_NCSNPP_COUNT


def test_imagenet64_adm_count_matches_official_exactly(imagenet):
    assert count_parameters(imagenet) == CT_OFFICIAL_COUNTS['imagenet64']
    assert imagenet.unet.class_embedding.weight.numel() == 1000 * 768


def test_lsun256_adm_count_matches_official_exactly():
    with torch.device('meta'):      # same parameter shapes, no 2 GB allocation
        net = build_ct_generator('lsun256')
    assert count_parameters(net) == CT_OFFICIAL_COUNTS['lsun256']
    assert net.unet.class_embedding is None


def test_official_init_zeroes_the_zero_initialised_layers(cifar):
    zero = [m.conv2 for m in cifar.modules() if isinstance(m, ResnetBlock2D)]
    zero += [m.to_out[0] for m in cifar.modules() if isinstance(m, Attention)]
    zero.append(cifar.conv_out)
    # 14 encoder + 2 mid + 17 decoder res blocks; 4 + 1 + 1 attentions; the output conv.
    assert len(zero) == 33 + 6 + 1
    assert all(int(torch.count_nonzero(p)) == 0 for m in zero for p in m.parameters())
    assert int(torch.count_nonzero(cifar.conv_in.weight)) > 0


def test_cifar10_forward(cifar):
    x = torch.randn(2, 3, 32, 32)
    with torch.no_grad():
        out = cifar(x, torch.tensor([-1500.0, 1000.0]))     # 250·ln σ for σ ≈ 0.0025, 55
    assert out.shape == (2, 3, 32, 32) and torch.isfinite(out).all()
    assert float(out.abs().max()) == 0      # zero-initialised output conv, as in the JAX code

    torch.manual_seed(1)
    net = build_ct_generator('cifar10', official_init=False)
    net_copy = copy.deepcopy(net)           # EMA / target copies (FIR resblocks hold lambdas)
    cm = ConsistencyModel(net, sigma_embedding='log')
    sigma = torch.tensor([0.002, 40.0])
    with torch.no_grad():
        out = net(x, torch.tensor([-1500.0, -1500.0]))
        other_sigma = net_copy(x[1:], torch.tensor([1000.0]))
        f = cm(x, sigma)
    assert torch.isfinite(out).all() and float(out.abs().max()) > 0
    assert not torch.allclose(out[1], other_sigma[0])      # the noise level matters
    assert f.shape == (2, 3, 32, 32) and torch.isfinite(f).all()
    torch.testing.assert_close(f[0], x[0])  # boundary condition f(x, σ_min) = x


def test_imagenet64_takes_class_labels(imagenet):
    x, t = torch.randn(1, 3, 64, 64), torch.tensor([500.0])
    with torch.no_grad():
        a = imagenet(x, t, torch.tensor([3]))
        b = imagenet(x, t, torch.tensor([999]))
    assert a.shape == (1, 3, 64, 64) and torch.isfinite(a).all() and torch.isfinite(b).all()
    assert not torch.allclose(a, b)
    with pytest.raises(ValueError):
        imagenet(x, t)
