import copy
import urllib.request
from pathlib import Path

import pytest
import torch
from torch import nn

from act_bench.config import find_run, prepare_config

REPO = Path(__file__).resolve().parents[1]

TINY_CONFIG = {
    'name': 'unit',
    'datasets': {'toy': {'kind': 'toy2d', 'distribution': 'eight_gaussians', 'n_train': 256, 'n_eval': 64},
                 'digits': {'kind': 'digits', 'resolution': 16}},
    'models': {'tiny': {'mlp_hidden': 32, 'mlp_layers': 2, 'unet_channels': [8, 16], 'disc_channels': [8, 16],
                        'norm_groups': 4}},
    'train': {'iterations': 20, 's1': 10, 'checkpoint_every': 5, 'log_every': 5, 'r1_interval': 2},
    'sweep': [{'dataset': ['toy', 'digits'], 'method': ['ct', 'act'], 'batch_size': [8], 'model': ['tiny']},
              {'dataset': ['toy', 'digits'], 'method': ['act'], 'batch_size': [8], 'model': ['tiny'],
               'augment': ['on']}],
}


@pytest.fixture
def tiny_config():
    return prepare_config(copy.deepcopy(TINY_CONFIG), 'tiny test config')


@pytest.fixture(scope='module')
def tiny_config_module():
    return prepare_config(copy.deepcopy(TINY_CONFIG), 'tiny test config')


@pytest.fixture
def make_run(tiny_config):
    def make(dataset='toy', method='act', augment='off', **train):
        run = find_run(tiny_config, dataset=dataset, method=method, batch_size=8, model='tiny',
                       augment=augment, seed=0)
        run.train.update(train)
        return run
    return make


@pytest.fixture(autouse=True)
def _single_thread():
    torch.set_num_threads(1)

#----------------------------------------------------------------------------
# Stand-ins for the paper datasets and clean-fid's Inception file.

class StandInImages(torch.utils.data.Dataset):
    """A map-style dataset of (image in [−1, 1], label) items, as the paper datasets yield: the given
    images (e.g. the bundled digits), or n seeded random ones of `shape`; labels drawn below num_classes
    (`num_classes` None: an unlabelled dataset, whose sampler returns no labels)."""

    def __init__(self, images=None, shape=(3, 8, 8), n=16, num_classes=None, seed=0):
        generator = torch.Generator().manual_seed(seed)
        self.images = torch.rand(n, *shape, generator=generator) * 2 - 1 if images is None else images
        self.labels = torch.randint(num_classes or 1, (len(self.images),), generator=generator)
        self.num_classes = num_classes

    def __len__(self):
        return len(self.images)

    def __getitem__(self, i):
        return self.images[i], int(self.labels[i])


class StandInInceptionLayers(nn.Module):
    """pool3 stand-in: features 0-2 are the channel means of its input, 3-4 its height and width."""

    def __init__(self):
        super().__init__()
        self.pool = nn.AdaptiveAvgPool2d(4)
        self.proj = nn.Linear(3 * 16, 2048 - 5)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        n = x.shape[0]
        hw = torch.tensor([float(x.shape[2]), float(x.shape[3])], dtype=x.dtype).expand(n, 2)
        f = torch.cat([x.mean((2, 3)), hw, torch.tanh(self.proj(self.pool(x).flatten(1)))], 1)
        return f.reshape(n, 2048, 1, 1)


class StandInInception(nn.Module):
    """Has the call convention clean-fid's `InceptionV3W` expects of inception-2015-12-05.pt: a `layers`
    submodule mapping normalised 299×299 images to (N, 2048, 1, 1) pool3 features, an `output` Linear(2048,
    1008) head, and `forward(img, return_features, use_fp16, no_output_bias)` that resizes [0, 255] images to
    299×299 itself and returns features or softmax probabilities."""

    def __init__(self):
        super().__init__()
        self.layers = StandInInceptionLayers()
        self.output = nn.Linear(2048, 1008)

    def forward(self, img: torch.Tensor, return_features: bool = False, use_fp16: bool = False,
                no_output_bias: bool = False) -> torch.Tensor:
        x = nn.functional.interpolate(img.to(torch.float32), size=[299, 299], mode='bilinear', align_corners=False)
        features = self.layers((x - 128.0) / 128.0).reshape(-1, 2048)
        if return_features:
            return features
        if no_output_bias:
            logits = nn.functional.linear(features, self.output.weight)
        else:
            logits = self.output(features)
        return nn.functional.softmax(logits, 1)


@pytest.fixture
def no_downloads(monkeypatch):
    """Any download attempt (urllib, clean-fid's helpers) fails the test."""
    import cleanfid.downloads_helper as helper
    import cleanfid.inception_torchscript as ts

    def refuse(*args, **kwargs):
        raise AssertionError(f'a download was attempted: {args}')
    monkeypatch.setattr(urllib.request, 'urlopen', refuse)
    for module in (helper, ts):
        monkeypatch.setattr(module, 'check_download_inception', refuse)
    monkeypatch.setattr(helper, 'check_download_url', refuse)


def write_stand_in_inception(folder):
    """Save a seeded StandInInception as `folder`/inception-2015-12-05.pt (TorchScript, as clean-fid's file)."""
    from act_bench.evaluation.fid import WEIGHTS_FILE
    torch.manual_seed(0)
    torch.jit.save(torch.jit.script(StandInInception().eval()), str(Path(folder) / WEIGHTS_FILE))
