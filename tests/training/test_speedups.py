"""The speed-ups keep the numerics: bitwise where the arithmetic is the same (EMA foreach, prefetch,
lean_radam against foreach RAdam), else within float32 rounding accumulated over a few steps (stated
tolerances below)."""

import copy
import io

import pytest
import torch
from diffusers.models.attention_processor import Attention, AttnProcessor, AttnProcessor2_0

from act_bench.data.samplers import DatasetSampler
from act_bench.data.bundled import prepare_dataset
from act_bench.training.build import build_generator
from act_bench.data.samplers import PrefetchingSampler
from act_bench.training.speedups import configure
from act_bench.training.ema import update_ema_foreach
from act_bench.training.loop import Training
from act_bench.training.ema import update_ema
from act_bench.training.lean_radam import lean_radam_step
from act_bench.training.flat import FlatEMA, FlatRAdam
from conftest import StandInImages

# SDPA vs classic attention, foreach vs per-tensor RAdam and NHWC vs NCHW convolutions round
# differently; after 4 steps (2 with R1, augmentation on) the differences stay at float32 level.
LOSS_TOL = dict(rtol=1e-5, atol=1e-6)
WEIGHT_TOL = dict(rtol=1e-4, atol=1e-5)


@pytest.fixture(scope='module')
def digits(tiny_config_module):
    return torch.from_numpy(prepare_dataset(tiny_config_module['datasets']['digits'])['train'])


def train(make_run, digits, speedups, method='act', steps=4):
    run = make_run('digits', method, augment='on' if method == 'act' else 'off', speedups=list(speedups),
                   aug_threshold=1e-3)
    training = Training(run, {'kind': 'digits'}, run_model(), StandInImages(digits), torch.device('cpu'))
    return training, [training.training_step() for _ in range(steps)]


def run_model():
    return {'unet_channels': [8, 16], 'disc_channels': [8, 16], 'norm_groups': 4, 'unet_layers_per_block': 1,
            'disc_layers_per_block': 1}


@pytest.mark.parametrize('method', ['act', 'ct'])
def test_fast_step_matches_slow_step(make_run, digits, method):
    slow, slow_stats = train(make_run, digits, [], method)
    fast, fast_stats = train(make_run, digits, ['foreach', 'lean_radam', 'flat', 'sdpa', 'prefetch', 'channels_last'],
                             method)
    assert isinstance(fast.sampler, PrefetchingSampler) and not isinstance(slow.sampler, PrefetchingSampler)
    keys = ['loss'] + (['loss_d', 'r1'] if method == 'act' else [])
    for a, b in zip(slow_stats, fast_stats):
        assert a.keys() == b.keys()
        for key in (k for k in keys if k in a):
            torch.testing.assert_close(torch.tensor(b[key]), torch.tensor(a[key]), **LOSS_TOL)
        if method == 'act':
            assert a['aug_p'] == b['aug_p']
    if method == 'act':
        assert slow_stats[-1]['aug_p'] > 0   # the augmented path was exercised
    nets = [('net', slow.net, fast.net), ('ema', slow.ema, fast.ema)]
    if method == 'act':
        nets.append(('D', slow.loss.D, fast.loss.D))
    for name, a, b in nets:
        for p, q in zip(a.parameters(), b.parameters()):
            torch.testing.assert_close(q, p, **WEIGHT_TOL, msg=lambda m: f'{name}: {m}')
    assert fast.sampler.state_dict() == slow.sampler.state_dict()


@pytest.mark.parametrize('method', ['act', 'ct'])
def test_switching_speedups_after_construction_matches_configuring_them(make_run, digits, method):
    """The benchmark's path: Training.use_speedups on a built Training gives the configured numerics."""
    names = ['foreach', 'sdpa', 'prefetch', 'channels_last']
    configured, configured_stats = train(make_run, digits, names, method)
    switched, _ = train(make_run, digits, [], method, steps=0)
    switched.use_speedups(names)
    assert switched.speedups == configured.speedups == ('foreach', 'sdpa', 'prefetch', 'channels_last')
    assert switched.ema_update is update_ema_foreach and isinstance(switched.sampler, PrefetchingSampler)
    assert all(p.is_contiguous(memory_format=torch.channels_last)
               for net in switched.networks().values() for p in net.parameters() if p.ndim == 4)
    switched_stats = [switched.training_step() for _ in range(len(configured_stats))]
    for a, b in zip(configured_stats, switched_stats):
        for key in ('loss', 'loss_d', 'r1'):
            if key in a:
                torch.testing.assert_close(torch.tensor(b[key]), torch.tensor(a[key]), **LOSS_TOL)
    switched.use_speedups(())
    assert switched.speedups == () and switched.ema_update is update_ema
    assert not isinstance(switched.sampler, PrefetchingSampler)


def assert_same_training(a, b):
    for net_a, net_b in zip(a.networks().values(), b.networks().values()):
        assert all(torch.equal(p, q) for p, q in zip(net_a.parameters(), net_b.parameters()))
    for opt_a, opt_b in zip([a.optimizer, *a.loss.optimizers()], [b.optimizer, *b.loss.optimizers()]):
        state_a, state_b = opt_a.state_dict()['state'], opt_b.state_dict()['state']
        assert state_a.keys() == state_b.keys()
        assert all(torch.equal(state_a[i][k], state_b[i][k]) for i in state_a for k in state_a[i])


@pytest.mark.parametrize('method', ['act', 'ct'])
def test_lean_radam_is_bitwise_foreach_radam_and_resumes(make_run, digits, method):
    """Same weights, losses and optimiser state as foreach RAdam; a resumed run continues bitwise."""
    foreach, foreach_stats = train(make_run, digits, ['foreach'], method)
    lean, lean_stats = train(make_run, digits, ['foreach', 'lean_radam'], method)
    assert [s['loss'] for s in lean_stats] == [s['loss'] for s in foreach_stats]
    assert_same_training(foreach, lean)
    first, _ = train(make_run, digits, ['foreach', 'lean_radam'], method, steps=2)
    state = copy.deepcopy(first.state_dict())   # before a new Training reseeds the global RNG
    resumed, _ = train(make_run, digits, ['foreach', 'lean_radam'], method, steps=0)
    resumed.load_state_dict(state)
    resumed_stats = [resumed.training_step() for _ in range(2)]
    assert [s['loss'] for s in resumed_stats] == [s['loss'] for s in lean_stats[2:]]
    assert_same_training(lean, resumed)


TOY = {'kind': 'toy2d', 'distribution': 'eight_gaussians', 'n_train': 256, 'n_eval': 64}


def train_toy(make_run, speedups, method, steps=4):
    run = make_run('toy', method, speedups=list(speedups))
    training = Training(run, TOY, {'mlp_hidden': 32, 'mlp_layers': 2},
                        torch.from_numpy(prepare_dataset(TOY)['train']), torch.device('cpu'))
    return training, [training.training_step() for _ in range(steps)]


def one_buffer(module):
    """Whether all of a module's parameters are views of one storage."""
    return len({p.untyped_storage().data_ptr() for p in module.parameters()}) == 1


def resumed_through_a_file(make, state):
    """A Training built with make() and resumed from `state` saved to and loaded from bytes, as a checkpoint."""
    buffer = io.BytesIO()
    torch.save(state, buffer)
    buffer.seek(0)
    resumed, _ = make(0)
    resumed.load_state_dict(torch.load(buffer, weights_only=False))
    return resumed


@pytest.mark.parametrize('network', ['toy', 'digits'])
@pytest.mark.parametrize('method', ['act', 'ct'])
def test_flat_is_bitwise_lean_radam_and_resumes(make_run, digits, method, network):
    """'flat': the same weights, losses and optimiser state as foreach + lean_radam, through a checkpoint too."""
    def make(speedups, steps):
        if network == 'toy':
            return train_toy(make_run, speedups, method, steps)
        return train(make_run, digits, speedups, method, steps)
    lean, lean_stats = make(['foreach', 'lean_radam'], 4)
    flat, flat_stats = make(['foreach', 'lean_radam', 'flat'], 4)
    assert isinstance(flat.ema_update, FlatEMA) and isinstance(flat.optimizer.step, FlatRAdam)
    assert all(one_buffer(net) for net in flat.networks().values())
    assert flat.optimizer.step.views is not None   # the flat path ran, not its fallback
    assert [s['loss'] for s in flat_stats] == [s['loss'] for s in lean_stats]
    assert_same_training(lean, flat)
    first, _ = make(['foreach', 'lean_radam', 'flat'], 2)
    state = copy.deepcopy(first.state_dict())   # before a new Training reseeds the global RNG
    resumed = resumed_through_a_file(lambda steps: make(['foreach', 'lean_radam', 'flat'], steps), state)
    resumed_stats = [resumed.training_step() for _ in range(2)]
    assert [s['loss'] for s in resumed_stats] == [s['loss'] for s in lean_stats[2:]]
    assert_same_training(lean, resumed)
    assert all(one_buffer(net) for net in resumed.networks().values())


def test_flat_leaves_channels_last_networks_as_they_are(make_run, digits):
    """NHWC weights are not contiguous: those networks take the lean_radam / foreach EMA steps, bitwise."""
    names = ['foreach', 'lean_radam', 'channels_last']
    plain, plain_stats = train(make_run, digits, names, 'act', steps=2)
    flat, flat_stats = train(make_run, digits, names + ['flat'], 'act', steps=2)
    assert flat.optimizer.step.parameters.flat is None and not one_buffer(flat.net)
    assert [s['loss'] for s in flat_stats] == [s['loss'] for s in plain_stats]
    assert_same_training(plain, flat)


def test_flat_rebuilds_after_parameters_are_replaced(make_run):
    """A switch that replaces the parameters after 'flat' packed them (channels_last, .to()) gets the fallback."""
    training, _ = train_toy(make_run, ['foreach', 'lean_radam', 'flat'], 'ct', steps=1)
    step = training.optimizer.step
    with torch.no_grad():
        for p in training.net.parameters():
            p.data = p.data.clone()
    assert not step.parameters.intact()
    training.training_step()
    assert step.views is None   # the lean_radam step ran


def test_lean_radam_falls_back_to_radam_for_groups_it_does_not_cover():
    torch.manual_seed(0)
    params = [torch.nn.Parameter(torch.randn(3, 2)) for _ in range(2)]
    copies = [torch.nn.Parameter(p.detach().clone()) for p in params]
    plain = torch.optim.RAdam(params, lr=1e-2, weight_decay=0.1, foreach=True)
    lean = torch.optim.RAdam(copies, lr=1e-2, weight_decay=0.1, foreach=True)
    for _ in range(3):
        for p, q in zip(params, copies):
            p.grad = torch.ones_like(p)
            q.grad = torch.ones_like(q)
        plain.step()
        lean_radam_step(lean)
    assert all(torch.equal(p, q) for p, q in zip(params, copies))


def test_foreach_ema_is_bitwise(tiny_config_module):
    torch.manual_seed(0)
    train_cfg = tiny_config_module['train']
    net = build_generator((1, 16, 16), {'unet_channels': [8, 16], 'unet_layers_per_block': 1,
                                        'norm_groups': 4}, train_cfg)
    a, b = copy.deepcopy(net), copy.deepcopy(net)
    with torch.no_grad():
        for p in net.parameters():
            p.add_(torch.randn_like(p))
    update_ema(a, net, 0.95)
    update_ema_foreach(b, net, 0.95)
    assert all(torch.equal(p, q) for p, q in zip(a.parameters(), b.parameters()))


def test_prefetch_draws_the_same_batches_and_resumes(digits):
    def sampler():
        return DatasetSampler(StandInImages(digits[:40]), seed=3, random_flip=True)
    plain, ahead = sampler(), PrefetchingSampler(sampler())
    for _ in range(3):
        assert torch.equal(plain(8)[0], ahead(8)[0])
    state = plain.state_dict()
    assert ahead.state_dict() == state
    later = plain(8)[0]
    resumed = PrefetchingSampler(sampler())
    resumed(8)                       # prefetches batch 1, which the resumed state skips
    resumed.load_state_dict(state)
    assert torch.equal(resumed(8)[0], later)
    ahead.close(), resumed.close()


def test_classic_attention_only_in_r1_iterations(make_run, digits):
    training, _ = train(make_run, digits, ['sdpa'], steps=0)
    layers = [m for m in training.loss.D.modules() if isinstance(m, Attention)]
    assert layers
    seen = {}
    original = training.loss.discriminator_losses

    def spy(net, images, n, with_r1, labels=None):
        seen[with_r1] = {type(layer.processor) for layer in layers}
        return original(net, images, n, with_r1, labels)
    training.loss.discriminator_losses = spy
    for step in (0, 1):   # r1_interval 2: step 0 has R1
        training.step = step
        training.training_step()
    assert seen == {True: {AttnProcessor}, False: {AttnProcessor2_0}}
    configure(training, ())   # switching off restores the classic processor everywhere
    assert {type(layer.processor) for layer in layers} == {AttnProcessor}
    assert not isinstance(training.sampler, PrefetchingSampler)
    assert training.optimizer.param_groups[0]['foreach'] is False
    with pytest.raises(ValueError, match="unknown speed-up 'turbo'"):
        configure(training, ['turbo'])


@pytest.mark.heavy
def test_compiled_generator_matches(make_run):
    """train.compile: torch.compile of G and its EMA (minutes of compilation on a CPU)."""
    from act_bench.data.bundled import prepare_dataset as prepare
    stats = []
    for compile_ in (False, True):
        run = make_run('toy', 'act', compile=compile_)
        spec = {'kind': 'toy2d', 'distribution': 'eight_gaussians', 'n_train': 256, 'n_eval': 64}
        training = Training(run, spec, {'mlp_hidden': 32, 'mlp_layers': 2}, torch.from_numpy(prepare(spec)['train']),
                            torch.device('cpu'))
        assert ('compile' in training.speedups) == compile_
        stats.append([training.training_step()['loss'] for _ in range(4)])
    torch.testing.assert_close(torch.tensor(stats[1]), torch.tensor(stats[0]), **LOSS_TOL)


@pytest.mark.heavy
def test_compiled_discriminator_and_optimizer_match(make_run):
    """compile_d (D compiled outside R1 iterations) and compile_optimizer (minutes of compilation on a CPU)."""
    from act_bench.data.bundled import prepare_dataset as prepare
    spec = {'kind': 'toy2d', 'distribution': 'eight_gaussians', 'n_train': 256, 'n_eval': 64}
    runs = {}
    for names in ([], ['compile_d', 'compile_optimizer']):
        training = Training(make_run('toy', 'act', speedups=names), spec, {'mlp_hidden': 32, 'mlp_layers': 2},
                            torch.from_numpy(prepare(spec)['train']), torch.device('cpu'))
        assert training.speedups == tuple(names)
        runs[bool(names)] = training, [training.training_step() for _ in range(4)]   # r1_interval 2: R1 in steps 0, 2
    (slow, slow_stats), (fast, fast_stats) = runs[False], runs[True]
    for key in ('loss', 'loss_d', 'r1'):
        torch.testing.assert_close(torch.tensor([s[key] for s in fast_stats if key in s]),
                                   torch.tensor([s[key] for s in slow_stats if key in s]), **LOSS_TOL)
    for a, b in zip(slow.networks().values(), fast.networks().values()):
        for p, q in zip(a.parameters(), b.parameters()):
            torch.testing.assert_close(q, p, **WEIGHT_TOL)
