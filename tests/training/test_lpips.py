"""LPIPSDistance: the LPIPS consistency distance of CT/ACT, loaded from a local folder, no download.

Real weights cannot be fetched here, so the tests build the real networks (torchvision's VGG16,
piq's five LPIPS linear weights) with random values and save them under the expected file names.
"""
import copy
import os
import urllib.request

import pytest
import torch
import torch.nn.functional as F
import torchvision

from act_bench.training import lpips as ld
from act_bench.training.lpips import LPIPS_FILE, VGG16_FILE, LPIPSDistance, WeightsMissing

torch.set_num_threads(1)

SMALL = 32  # resize used where the test is not about the 224 resize (VGG16 at 224 is slow on CPU)


def _refuse(*args, **kwargs):
    raise AssertionError('a download was attempted')


def _forbid_downloads(mp, torch_home):
    """Make every download route raise, and point the torch hub cache at an empty folder."""
    mp.setenv('TORCH_HOME', str(torch_home))
    mp.setattr(torch.hub, 'load_state_dict_from_url', _refuse)
    mp.setattr(torch.hub, 'download_url_to_file', _refuse)
    mp.setattr(torch.utils.model_zoo, 'load_url', _refuse)
    mp.setattr(torchvision.models._api.WeightsEnum, 'get_state_dict', _refuse)
    mp.setattr(urllib.request, 'urlopen', _refuse)
    mp.setattr(urllib.request, 'urlretrieve', _refuse)


@pytest.fixture(scope='module')
def weights(tmp_path_factory):
    """Random VGG16 + LPIPS linear weights saved as vgg16-397923af.pth and lpips_weights.pt."""
    torch.manual_seed(0)
    vgg = torchvision.models.vgg16(weights=None)  # the class behind vgg16-397923af.pth
    state = vgg.state_dict()
    # keep the key set of the real file, but not its 500 MB of classifier weights (unused)
    state = {k: (v if k.startswith('features.') else torch.zeros(0)) for k, v in state.items()}
    lin = [torch.rand(1, c, 1, 1) for c in ld.LPIPS_CHANNELS]  # piq's format: a list of five
    d = tmp_path_factory.mktemp('lpips_weights')
    torch.save(state, d / VGG16_FILE)
    torch.save(lin, d / LPIPS_FILE)
    return {'dir': d, 'vgg': vgg, 'lin': lin}


@pytest.fixture(scope='module')
def dist(weights, tmp_path_factory):
    with pytest.MonkeyPatch.context() as mp:
        _forbid_downloads(mp, tmp_path_factory.mktemp('torch_home'))
        return LPIPSDistance(weights['dir'], resize=SMALL)


@pytest.fixture
def no_download(monkeypatch, tmp_path):
    _forbid_downloads(monkeypatch, tmp_path / 'torch_home')


def _images(b=2, c=3, s=16, seed=1):
    g = torch.Generator().manual_seed(seed)
    return (torch.rand(b, c, s, s, generator=g) * 2 - 1, torch.rand(b, c, s, s, generator=g) * 2 - 1)


def test_zero_on_equal_positive_otherwise(dist, no_download):
    x, y = _images(b=3)
    with torch.no_grad():
        same, other = dist(x, x), dist(x, y)
    assert same.shape == other.shape == (3,)
    assert same.abs().max() < 1e-6
    assert torch.isfinite(other).all() and (other > 0).all()


def test_default_resizes_to_224_bilinear(weights, no_download):
    d224 = LPIPSDistance(weights['dir'])  # paper default: always 224, max pooling, clip target
    none = LPIPSDistance(weights['dir'], resize=None)
    x, y = _images(b=1, s=8)
    online = torch.cat([x, x])
    target = torch.cat([x, y])
    with torch.no_grad():
        d = d224(online, target)
        up = lambda t: F.interpolate(t, size=(224, 224), mode='bilinear')  # noqa: E731
        ref = none(up(x), up(y))
    assert d.shape == (2,)
    assert d[0].abs() < 1e-6 and d[1] > 0
    torch.testing.assert_close(d[1:], ref, rtol=1e-5, atol=1e-7)


def test_gradients_reach_online_not_vgg(dist, no_download):
    x, y = _images()
    online = x.clone().requires_grad_(True)
    dist.train()  # must stay frozen in eval mode anyway
    dist(online, y).sum().backward()
    assert online.grad is not None and online.grad.abs().sum() > 0
    assert not dist.training and not dist.lpips.model.training
    params = list(dist.parameters())
    assert params and all(not p.requires_grad and p.grad is None for p in params)


def test_target_is_clipped(weights, dist, no_download):
    x, y = _images()
    wild = y * 3  # mostly outside [-1, 1]
    with torch.no_grad():
        torch.testing.assert_close(dist(x, wild), dist(x, wild.clamp(-1, 1)))
        cm = LPIPSDistance(weights['dir'], resize=SMALL, clip_target=False)
        assert not torch.allclose(cm(x, wild), cm(x, wild.clamp(-1, 1)))
        # the online prediction is not clipped
        assert not torch.allclose(dist(wild, x), dist(wild.clamp(-1, 1), x))


def test_grayscale_repeated_to_rgb(dist, no_download):
    x, y = _images(c=1)
    with torch.no_grad():
        d1 = dist(x, y)
        d3 = dist(x.repeat(1, 3, 1, 1), y.repeat(1, 3, 1, 1))
    assert d1.shape == (2,) and torch.isfinite(d1).all() and (d1 > 0).all()
    torch.testing.assert_close(d1, d3)


@pytest.mark.parametrize('replace_pooling', [False, True])
def test_matches_piq_lpips(weights, monkeypatch, tmp_path, replace_pooling):
    """Same numbers as piq.LPIPS(replace_pooling, reduction='none') fed the paper's preprocessing."""
    import piq
    import piq.perceptual

    with pytest.MonkeyPatch.context() as mp:
        _forbid_downloads(mp, tmp_path / 'torch_home')
        ours = LPIPSDistance(weights['dir'], resize=SMALL, replace_pooling=replace_pooling)
    # piq.LPIPS downloads; hand it the same random weights instead
    monkeypatch.setattr(torch.hub, 'load_state_dict_from_url', lambda *a, **k: weights['lin'])
    monkeypatch.setattr(piq.perceptual, 'vgg16', lambda *a, **k: copy.deepcopy(weights['vgg']))
    ref = piq.LPIPS(replace_pooling=replace_pooling, reduction='none')
    x, y = _images(s=8)
    y = y * 1.5
    up = lambda t: F.interpolate(t, size=(SMALL, SMALL), mode='bilinear')  # noqa: E731
    with torch.no_grad():
        expected = ref(up((x + 1) / 2), up((y.clamp(-1, 1) + 1) / 2))
        got = ours(x, y)
    torch.testing.assert_close(got, expected)


def test_cm_resize_only_below(weights, dist, no_download):
    x, y = _images(s=SMALL)
    cm = LPIPSDistance(weights['dir'], resize=64, resize_only_below=SMALL)  # 32 is not < 32
    with torch.no_grad():
        torch.testing.assert_close(cm(x, y), dist(x, y))  # dist resizes 32 -> 32: a no-op


def test_richzhang_linear_weights_accepted(weights, dist, tmp_path, no_download):
    d = tmp_path / 'rz'
    d.mkdir()
    os.symlink(weights['dir'] / VGG16_FILE, d / VGG16_FILE)
    torch.save({f'lin{k}.model.1.weight': w for k, w in enumerate(weights['lin'])}, d / LPIPS_FILE)
    x, y = _images()
    with torch.no_grad():
        torch.testing.assert_close(LPIPSDistance(d, resize=SMALL)(x, y), dist(x, y))


@pytest.mark.parametrize('present', [LPIPS_FILE, VGG16_FILE, None])
def test_missing_file_raises_before_building(tmp_path, monkeypatch, present):
    if present:
        (tmp_path / present).write_bytes(b'placeholder')  # never read: the check comes first
    _forbid_downloads(monkeypatch, tmp_path / 'torch_home')
    monkeypatch.setattr(torch, 'load', _refuse)
    monkeypatch.setattr(torch.nn.Conv2d, '__init__', _refuse)
    with pytest.raises(WeightsMissing) as err:
        LPIPSDistance(tmp_path)
    msg = str(err.value)
    assert isinstance(err.value, FileNotFoundError)
    missing = [f for f in (VGG16_FILE, LPIPS_FILE) if f != present]
    for f in missing:
        assert f in msg
        assert {VGG16_FILE: ld.VGG16_URL, LPIPS_FILE: ld.LPIPS_URL}[f] in msg
    if present:
        assert present not in msg
    assert str(tmp_path) in msg and 'lpips_weights' in msg
    assert msg.count('. ') == 0 and msg.endswith('.')  # one sentence


def test_urls_match_the_libraries():
    import piq

    assert ld.LPIPS_URL == piq.LPIPS._weights_url
    assert ld.VGG16_URL == torchvision.models.VGG16_Weights.IMAGENET1K_V1.url
    assert ld.VGG16_URL.endswith(VGG16_FILE)


@pytest.mark.parametrize('method,replace_pooling,resize_only_below', [('ct', True, 256), ('ict', True, 256),
                                                                      ('act', False, None)])
def test_the_loss_factory_picks_each_methods_lpips_variant(weights, no_download, make_run, tiny_config, method,
                                                           replace_pooling, resize_only_below):
    """CT's baselines get CM's LPIPS (VGG average pools, resize to 224 only below 256 px); ACT keeps its own."""
    from act_bench.data.kinds import kind_of
    from act_bench.training.build import build_loss
    run = make_run(dataset='digits', method='ct' if method == 'ict' else method, distance='lpips',
                   lpips_weights=str(weights['dir']))   # train settings of a run; the method is build_loss's
    loss = build_loss(method, kind_of('digits'), (1, 16, 16), tiny_config['models']['tiny'], run.train, 8, 'off',
                      torch.device('cpu'))
    assert (loss.distance.replace_pooling, loss.distance.resize_only_below) == (replace_pooling, resize_only_below)
    pools = {type(m).__name__ for m in loss.distance.lpips.model.modules() if 'Pool' in type(m).__name__}
    assert pools == ({'AvgPool2d'} if replace_pooling else {'MaxPool2d'})
