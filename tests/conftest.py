import copy
from pathlib import Path

import pytest
import torch

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
