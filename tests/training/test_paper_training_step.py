"""One training iteration of each paper architecture on CPU at batch 2, for both methods."""

import pytest
import torch

import dataclasses

from act_bench.config import config_path, expand_runs, load_config
from act_bench.training.loop import Training
from conftest import StandInImages

CASES = [  # (config, dataset kind, model, method, shape, classes)
    ('paper/cifar10', 'cifar10', 'ct-cifar10', 'ct', (3, 32, 32), None),
    ('paper/cifar10', 'cifar10', 'act-cifar10', 'act', (3, 32, 32), None),
    ('paper/cifar10', 'cifar10', 'act-cifar10', 'ct', (3, 32, 32), None),
    ('paper/imagenet64', 'imagenet64', 'ct-imagenet64', 'ct', (3, 64, 64), 1000),
    ('paper/imagenet64', 'imagenet64', 'act-imagenet64', 'act', (3, 64, 64), 1000),
    pytest.param('paper/lsun_cat256', 'lsun', 'act-lsun-cat256', 'act', (3, 256, 256), None, marks=pytest.mark.heavy),
    pytest.param('paper/lsun_cat256', 'lsun', 'ct-lsun256', 'ct', (3, 256, 256), None, marks=pytest.mark.heavy),
]


@pytest.mark.parametrize('name,kind,model,method,shape,classes', CASES)
def test_one_paper_training_iteration(name, kind, model, method, shape, classes):
    config = load_config(config_path(name))
    run = next(r for r in expand_runs(config) if r.model == model and r.method == method)
    # batch 2, the l2 distance (the LPIPS weight files are downloads) and fp32: CPU fp16 kernels are
    # impractically slow; mixed precision is tested on small networks in test_training_options.py
    run = dataclasses.replace(run, batch_size=2, train={**run.train, 'distance': 'l2', 'precision': 'fp32'})
    tr = Training(run, {'kind': kind}, config['models'][model], StandInImages(shape=shape, num_classes=classes), torch.device('cpu'))
    stats = tr.training_step()
    assert torch.isfinite(torch.tensor(stats['loss']))
    if method == 'act':
        assert torch.isfinite(torch.tensor(stats['loss_d'])) and 'r1' in stats
