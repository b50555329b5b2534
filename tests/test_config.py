import copy

import pytest

from act_bench.runtime.errors import ConfigError

from act_bench.config import expand_runs, load_config, prepare_config
from conftest import REPO, TINY_CONFIG


def _prepare(**changes):
    cfg = copy.deepcopy(TINY_CONFIG)
    for dotted, value in changes.items():
        node = cfg
        *parents, last = dotted.split('.')
        for p in parents:
            node = node[int(p)] if p.isdigit() else node[p]
        node[last] = value
    return prepare_config(cfg, 'test.yaml')


def test_defaults_are_filled_and_runs_expand():
    cfg = _prepare()
    assert cfg['train']['lr'] == 1e-4 and cfg['train']['betas'] == [0.0, 0.99]
    assert cfg['evaluation']['classifier']['iterations'] == 600
    assert cfg['models']['tiny']['unet_layers_per_block'] == 1
    runs = expand_runs(cfg)
    assert len(runs) == 6
    assert {r.augment for r in runs} == {'on', 'off'}
    assert runs[0].path.startswith('results/unit/runs/toy/ct/batch8/tiny/aug-off/seed0')
    assert 'train' not in cfg['sweep'][0]  # block overrides stay sparse


def test_unknown_key_is_named():
    with pytest.raises(ConfigError, match=r"unknown config key 'train.learning_rate'"):
        _prepare(**{'train.learning_rate': 0.1})


def test_wrong_type_is_named():
    with pytest.raises(ConfigError, match=r"config key 'train.lr': 'fast' is not of type 'number'"):
        _prepare(**{'train.lr': 'fast'})


def test_zero_batch_is_named():
    with pytest.raises(ConfigError, match=r"sweep\[0\].batch_size\[0\]"):
        _prepare(**{'sweep.0.batch_size': [0]})


def test_error_is_one_line():
    with pytest.raises(ConfigError) as e:
        _prepare(**{'models.tiny.unet_channels': 'wide'})
    assert '\n' not in str(e.value) and 'models.tiny.unet_channels' in str(e.value)


def test_ct_with_augmentation_is_rejected():
    with pytest.raises(ConfigError, match='augmentation only applies'):
        _prepare(**{'sweep.1.method': ['ct', 'act']})


def test_undefined_dataset_is_rejected():
    with pytest.raises(ConfigError, match="'cifar10', which is not defined"):
        _prepare(**{'sweep.0.dataset': ['cifar10']})


def test_odd_act_batch_is_rejected():
    with pytest.raises(ConfigError, match='must be even'):
        _prepare(**{'sweep.0.batch_size': [7]})


@pytest.mark.parametrize('name', ['default', 'smoke'])
def test_bundled_configs_are_valid(name):
    cfg = load_config(REPO / 'workflow' / 'configs' / f'{name}.yaml')
    runs = expand_runs(cfg)
    assert {r.method for r in runs} == {'ct', 'act'}
    assert len({r.batch_size for r in runs if r.dataset == 'digits'}) >= 1


def test_missing_and_malformed_files(tmp_path):
    with pytest.raises(ConfigError, match='does not exist'):
        load_config(tmp_path / 'nope.yaml')
    bad = tmp_path / 'bad.yaml'
    bad.write_text('name: [unclosed\n')
    with pytest.raises(ConfigError, match='not valid YAML'):
        load_config(bad)


def test_too_few_samples_for_the_inception_score_splits(tmp_path):
    cfg = {'name': 'x', 'datasets': {'img': {'kind': 'image_folder', 'path': 'imgs', 'resolution': 8}},
           'models': {'m': {}}, 'sweep': [{'dataset': ['img'], 'method': ['ct'], 'batch_size': [4], 'model': ['m']}],
           'evaluation': {'n_samples': 16, 'fid': {'is_splits': 20}}}
    with pytest.raises(ConfigError, match=r'evaluation.n_samples \(16\) is smaller than evaluation.fid.is_splits \(20\)'):
        prepare_config(cfg, 'cfg')


def test_variants_are_a_run_path_component_and_a_clash_names_both_blocks(tiny_config):
    from act_bench.layout import parse_run_dir
    config = copy.deepcopy(tiny_config)
    block = {'dataset': ['toy'], 'method': ['act'], 'batch_size': [8], 'model': ['tiny'], 'augment': ['off'],
             'seed': [0], 'train': {'lambda_adv': 0.9}}
    runs = expand_runs({**config, 'sweep': [*config['sweep'], {**block, 'variant': 'lambda0.9'}]})
    variant = next(r for r in runs if r.variant)
    assert variant.path == 'results/unit/runs/variant-lambda0.9/toy/act/batch8/tiny/aug-off/seed0'
    assert variant.train['lambda_adv'] == 0.9 and len(runs) == 7
    assert parse_run_dir(variant.path)['variant_dir'] == 'variant-lambda0.9/'
    assert parse_run_dir('results/unit/runs/toy/act/batch8/tiny/aug-off/seed0')['variant_dir'] == ''
    with pytest.raises(ConfigError, match=r'appears in sweep\[0\] and sweep\[2\] with different train settings'):
        expand_runs({**config, 'sweep': [*config['sweep'], block]})
