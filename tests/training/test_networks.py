import pytest
import torch

from act_bench.training.build import build_discriminator, build_generator


@pytest.mark.parametrize('shape', [(2,), (1, 16, 16)], ids=['toy2d', 'digits'])
@pytest.mark.parametrize('embedding', ['log', 'raw'])
def test_boundary_condition_is_exact(tiny_config, shape, embedding):
    train = {**tiny_config['train'], 'sigma_embedding': embedding}
    net = build_generator(shape, tiny_config['models']['tiny'], train)
    x = torch.randn(5, *shape)
    out = net(x, torch.full((5,), train['sigma_min']))
    assert torch.equal(out, x)
    # away from σ_min the network output matters
    assert not torch.allclose(net(x, torch.full((5,), 1.0)), x)


def test_scalings_match_the_formulas(tiny_config):
    net = build_generator((2,), tiny_config['models']['tiny'], tiny_config['train'])
    sigma = torch.tensor([0.002, 1.0, 80.0], dtype=torch.float64)
    c_skip, c_out, c_in = net.scalings(sigma)
    sd, smin = 0.5, 0.002
    assert torch.allclose(c_skip, sd ** 2 / ((sigma - smin) ** 2 + sd ** 2))
    assert torch.allclose(c_out, (sigma - smin) * sd / (sigma ** 2 + sd ** 2).sqrt())
    assert torch.allclose(c_in, 1 / (sigma ** 2 + sd ** 2).sqrt())
    assert c_skip[0] == 1 and c_out[0] == 0


@pytest.mark.parametrize('shape', [(2,), (1, 16, 16)], ids=['toy2d', 'digits'])
def test_discriminator_returns_one_logit_per_sample(tiny_config, shape):
    D = build_discriminator(shape, tiny_config['models']['tiny'], tiny_config['train'])
    assert D(torch.randn(3, *shape), torch.rand(3) * 80).shape == (3,)


@pytest.mark.parametrize('distribution', ['eight_gaussians', 'swiss_roll', 'checkerboard'])
def test_toy_distributions_are_bounded_two_dimensional_data(distribution):
    from act_bench.data.bundled import prepare_dataset
    data = prepare_dataset({'kind': 'toy2d', 'distribution': distribution, 'n_train': 500, 'n_eval': 100})
    assert data['train'].shape == (500, 2) and data['eval'].shape == (100, 2)
    assert 0.2 < data['train'].std() < 1.5 and abs(data['train']).max() < 3


def test_digits_split_is_disjoint_and_scaled():
    from act_bench.data.bundled import prepare_dataset
    data = prepare_dataset({'kind': 'digits', 'resolution': 16, 'eval_fraction': 0.2})
    assert data['train'].shape[1:] == (1, 16, 16) and len(data['train']) + len(data['eval']) == 1797
    assert data['train'].min() >= -1 and data['train'].max() <= 1
    assert len(data['eval']) == 359 and len(data['eval_labels']) == 359


def test_mlp_networks_run_on_flattened_images(tiny_config):
    model = {**tiny_config['models']['tiny'], 'network': 'mlp'}
    shape = (1, 8, 8)
    G = build_generator(shape, model, tiny_config['train'])
    D = build_discriminator(shape, model, tiny_config['train'])
    x = torch.randn(3, *shape)
    assert not any(isinstance(m, torch.nn.Conv2d) for m in G.modules())
    assert G(x, torch.rand(3) * 80).shape == x.shape
    assert torch.equal(G(x, torch.full((3,), tiny_config['train']['sigma_min'])), x)
    assert D(x, torch.rand(3) * 80).shape == (3,)


def test_auto_network_picks_mlps_for_vectors_and_unets_for_images(tiny_config):
    model = {**tiny_config['models']['tiny'], 'network': 'auto'}
    assert not any(isinstance(m, torch.nn.Conv2d) for m in build_generator((2,), model, tiny_config['train']).modules())
    assert any(isinstance(m, torch.nn.Conv2d) for m in build_generator((1, 8, 8), model, tiny_config['train']).modules())


@pytest.mark.parametrize('network, shape, num_classes, words', [('unet', (2,), None, 'needs images'),
                                                                  ('mlp', (1, 8, 8), 10, 'unconditional')])
def test_impossible_networks_are_config_errors(tiny_config, network, shape, num_classes, words):
    from act_bench.runtime.errors import ConfigError
    model = {**tiny_config['models']['tiny'], 'network': network}
    with pytest.raises(ConfigError, match=words):
        build_generator(shape, model, tiny_config['train'], num_classes=num_classes)


@pytest.mark.parametrize('channels, flip, shift', [(64, True, 0), (32, False, 1), (16, True, 1), (7, True, 0)])
def test_cached_sinusoid_is_diffusers_embedding_bitwise(channels, flip, shift):
    from diffusers.models.embeddings import Timesteps
    from act_bench.training.networks import CachedTimesteps
    t = torch.randn(128).exp() * 10
    cached = CachedTimesteps(channels, flip, shift)
    for _ in range(2):   # the first call builds the frequencies, the second reads them
        assert torch.equal(cached(t), Timesteps(channels, flip, shift)(t))
