"""The loss says what it owns: CT only the generator's step; ACT also D, its optimiser and an R1 cadence.
The factory (build.METHODS) is the one map from a method name to a loss class."""

import pytest
import torch

from act_bench.methods import METHOD_TRAITS
from act_bench.training.build import METHODS
from act_bench.training.loop import Training

MODEL = {'mlp_hidden': 16, 'mlp_layers': 1}


def _training(make_run, method, **train):
    run = make_run(dataset='toy', method=method, **train)
    return Training(run, {'kind': 'toy2d'}, MODEL, torch.randn(64, 2), torch.device('cpu'))


def test_the_factory_maps_each_method_to_the_loss_with_its_traits():
    assert METHODS.keys() == METHOD_TRAITS.keys()
    for name, loss_class in METHODS.items():
        assert loss_class.traits is METHOD_TRAITS[name]


def test_ct_owns_only_the_generator(make_run):
    training = _training(make_run, 'ct')
    loss = training.loss
    assert loss.networks() == {} and loss.optimizers() == [] and loss.r1_cadence is None
    assert not loss.traits.has_discriminator and not loss.traits.augmentable
    assert loss.data_per_generator_image == 1 and loss.batch_segments(8) == [8]
    assert list(training.networks()) == ['generator', 'target network', 'evaluation EMA']


def test_act_owns_its_discriminator_optimiser_and_r1_cadence(make_run):
    training = _training(make_run, 'act')   # the tiny config's r1_interval is 2
    loss = training.loss
    assert loss.networks() == {'discriminator': loss.D}
    assert loss.optimizers() == [loss.d_optimizer]
    assert loss.r1_cadence == 2
    assert loss.traits.has_discriminator and loss.traits.augmentable
    assert loss.data_per_generator_image == 2 and loss.batch_segments(8) == [8, 4, 4]
    assert training.networks()['discriminator'] is loss.D


def test_act_without_r1_penalty_has_no_cadence(make_run):
    assert _training(make_run, 'act', r1_gamma=0.0).loss.r1_cadence is None


@pytest.mark.parametrize('name,parts', [('ct', 1), ('act', 2)])
def test_batch_parts_make_every_draw_whole(name, parts):
    traits = METHOD_TRAITS[name]
    assert traits.batch_parts == parts
    assert sum(traits.segments(8)) == 8 * traits.data_per_generator_image


def test_optimizer_option_reaches_the_loss_optimisers(make_run):
    training = _training(make_run, 'act')
    training.set_optimizer_option('foreach', True)
    for optimizer in (training.optimizer, training.loss.d_optimizer):
        assert optimizer.defaults['foreach'] is True
        assert all(group['foreach'] is True for group in optimizer.param_groups)
