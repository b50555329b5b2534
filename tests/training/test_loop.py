"""Class conditioning, mixed precision and dataset-backed batches on the shared training step."""

import pytest
import torch

from act_bench.runtime import checkpoint as ckpt
from act_bench.training.loop import Training
from conftest import StandInImages

MODEL = {'unet_channels': [8, 16], 'disc_channels': [8, 16], 'unet_layers_per_block': 1,
         'disc_layers_per_block': 1, 'norm_groups': 4}


@pytest.mark.parametrize('method', ['ct', 'act'])
def test_class_conditional_step_uses_labels(make_run, method):
    run = make_run(dataset='digits', method=method)
    tr = Training(run, {'kind': 'image_folder', 'random_flip': True}, MODEL, StandInImages(n=40, num_classes=3),
                  torch.device('cpu'))
    assert tr.num_classes == 3 and tr.net.backbone.unet.class_embedding is not None
    images, labels = tr.sampler(8)
    assert labels is not None and labels.shape == (8,)
    stats = tr.training_step()
    assert torch.isfinite(torch.tensor(stats['loss']))
    x = torch.randn(2, 3, 8, 8)
    sigma = torch.full((2,), 5.0)
    assert not torch.equal(tr.net(x, sigma, torch.tensor([0, 0])), tr.net(x, sigma, torch.tensor([1, 1])))
    if method == 'act':
        assert tr.loss.D.backbone.class_embed is not None


@pytest.mark.filterwarnings('ignore:fp16 autocast on the CPU')
@pytest.mark.parametrize('precision', ['bf16', 'fp16'])
def test_mixed_precision_step_is_finite(make_run, precision):
    run = make_run(dataset='digits', method='act', precision=precision, r1_interval=1)
    tr = Training(run, {'kind': 'digits'}, MODEL, torch.rand(32, 1, 16, 16) * 2 - 1, torch.device('cpu'))
    for _ in range(2):
        stats = tr.training_step()
    assert all(torch.isfinite(torch.tensor(float(v))) for k, v in stats.items() if isinstance(v, float))
    assert tr.scaler.is_enabled() == (precision == 'fp16')
    assert all(p.dtype == torch.float32 for p in tr.net.parameters())


def test_dataset_sampler_resumes_exactly(tmp_path, make_run):
    run = make_run(dataset='digits', method='act', augment='on', aug_threshold=1e-6, r1_interval=1)
    a = Training(run, {'kind': 'image_folder', 'random_flip': True}, MODEL, StandInImages(n=40, num_classes=3),
                 torch.device('cpu'))
    a.training_step()
    ckpt.save_rotating(tmp_path, a)
    after_a = a.training_step()
    b = Training(run, {'kind': 'image_folder', 'random_flip': True}, MODEL, StandInImages(n=40, num_classes=3),
                 torch.device('cpu'))
    ckpt.load_latest(tmp_path, b)
    assert b.training_step() == after_a
