"""Dataset kinds: every attribute the code asks of a kind, for every kind."""

import pytest

from act_bench.data.bundled import dataset_info
from act_bench.data.kinds import KINDS, kind_of
from act_bench.runtime.errors import ConfigError


def test_kind_of_takes_a_spec_or_a_name():
    assert kind_of({'kind': 'digits', 'resolution': 16}) is kind_of('digits') is KINDS['digits']
    with pytest.raises(ConfigError, match="unknown dataset kind 'mnist'"):
        kind_of('mnist')


def test_bundled_kinds():
    assert {name for name, kind in KINDS.items() if kind.bundled} == {'toy2d', 'digits'}


def test_clip_ranges():
    assert kind_of('toy2d').clip is None
    assert {kind.clip for name, kind in KINDS.items() if name != 'toy2d'} == {1.0}


def test_metric_families():
    assert kind_of('toy2d').metric_family == 'wasserstein'
    assert kind_of('digits').needs_classifier and not kind_of('digits').inception_metrics
    image_kinds = {name for name, kind in KINDS.items() if not kind.bundled}
    assert {name for name, kind in KINDS.items() if kind.inception_metrics} == image_kinds
    assert not any(kind_of(name).needs_classifier for name in image_kinds)


def test_prepared_input():
    assert kind_of('imagenet64').prepared_input == 'imagenet64_folder'
    assert kind_of('toy2d').prepared_input == kind_of('digits').prepared_input == 'npz'
    assert kind_of('cifar10').prepared_input is None


@pytest.mark.parametrize('spec,shape,classes', [
    ({'kind': 'toy2d'}, (2,), None),
    ({'kind': 'digits', 'resolution': 16}, (1, 16, 16), None),
    ({'kind': 'cifar10'}, (3, 32, 32), None),
    ({'kind': 'imagenet64'}, (3, 64, 64), 1000),
    ({'kind': 'lsun', 'resolution': 256}, (3, 256, 256), None),
    ({'kind': 'image_folder', 'resolution': 64}, (3, 64, 64), None),
])
def test_sample_shape_and_classes(spec, shape, classes):
    assert kind_of(spec).sample_shape(spec) == shape and kind_of(spec).num_classes == classes
    assert dataset_info(spec) == (shape, classes)
