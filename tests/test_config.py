import copy

import pytest

from act_bench.runtime.errors import ConfigError

from act_bench import settings
from act_bench.config import expand_runs, load_config, prepare_config
from act_bench.training.schedules import evaluation_ema_decay, karras_sigmas
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
    assert {r.method for r in runs} == ({'ct', 'act', 'ict'} if name == 'default' else {'ct', 'act'})
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


def test_ict_brings_its_recipe_as_defaults_and_overrides_win():
    cfg = _prepare(**{'sweep': [{'dataset': ['toy'], 'method': ['ict', 'ct'], 'batch_size': [8], 'model': ['tiny']},
                                {'dataset': ['digits'], 'method': ['ict'], 'batch_size': [8], 'model': ['tiny'],
                                 'train': {'s1': 40, 'distance': 'l2', 'mu0': 0.5}}]})
    runs = {(r.dataset, r.method): r.train for r in expand_runs(cfg)}
    recipe = {'distance': 'pseudo_huber', 'sigma_sampling': 'lognormal', 'weighting': 'ict', 'mu0': 0.0,
              'schedule': 'ict', 's0': 10, 's1': 1280}
    assert {k: runs['toy', 'ict'][k] for k in recipe} == recipe
    assert runs['toy', 'ct']['distance'] == 'l2' and runs['toy', 'ct']['schedule'] == 'act'   # CT keeps its own
    assert runs['toy', 'ict']['iterations'] == 20   # the rest comes from the config's train
    overridden = runs['digits', 'ict']
    assert (overridden['s1'], overridden['distance'], overridden['mu0'], overridden['s0']) == (40, 'l2', 0.5, 10)


def test_evaluation_network_and_its_per_block_override():
    cfg = _prepare(**{'sweep.1.evaluation_network': 'target'})
    assert cfg['evaluation']['network'] == 'ema'
    assert {(r.augment, r.network) for r in expand_runs(cfg)} == {('off', 'ema'), ('on', 'target')}
    assert {r.network for r in expand_runs(_prepare(evaluation={'network': 'online'}))} == {'online'}
    with pytest.raises(ConfigError, match='evaluation.network'):
        _prepare(evaluation={'network': 'teacher'})


def test_the_evaluated_network_is_in_the_evaluation_digest_not_the_train_digest():
    """final.pt and the snapshots hold all three networks: a change of evaluation.network (or of a block's
    evaluation_network) changes the digest of the runs' evaluation only, never of their training."""
    base = _prepare()
    for changed, n_moved in ((_prepare(evaluation={'network': 'online'}), 6),
                             (_prepare(**{'sweep.1.evaluation_network': 'target'}), 2)):
        pairs = list(zip(expand_runs(base), expand_runs(changed)))
        assert sum(before.network != after.network for before, after in pairs) == n_moved
        for dataset in ('toy', 'digits'):   # reference statistics and data floors
            assert settings.evaluation_digest(base, dataset) == settings.evaluation_digest(changed, dataset)
        for before, after in pairs:
            def same(of_run):
                return of_run(base, before) == of_run(changed, after)
            assert before.path == after.path and same(settings.train_digest) and same(settings.artifact_identity)
            moved = before.network != after.network
            assert same(settings.run_evaluation_digest) != moved and same(settings.evaluation_identity) != moved
    online = _prepare(evaluation={'network': 'online'})
    run = expand_runs(online)[0]
    written = settings.run_settings(online, run)   # run.yaml
    assert written['evaluation_settings']['network'] == 'online' and 'network' not in written['train_settings']
    assert written['evaluation_digest'] == settings.run_evaluation_digest(online, run)


def _beta(run):
    return evaluation_ema_decay(run.batch_size, 10 ** 12, run.train['ema']['halflife_images'],
                                run.train['ema']['rampup_ratio'])


def test_paper_configs_evaluate_each_method_by_its_protocol():
    """CT: CM's 0.9999 EMA exactly at its batch; ACT-Aug (its official recipe): the target θ⁻; iCT: 0.99993;
    controlled blocks: both methods on the same EMA."""
    for name in ('cifar10', 'imagenet64', 'lsun_cat256'):
        runs = expand_runs(load_config(REPO / 'workflow' / 'configs' / 'paper' / f'{name}.yaml'))
        for run in runs:
            if run.model.startswith('ct-') and run.method == 'ct':
                assert run.network == 'ema' and run.train['ema']['rampup_ratio'] is None
                assert _beta(run) == pytest.approx(0.9999, abs=1e-15)
            elif run.method == 'ict':
                assert run.network == 'ema' and _beta(run) == pytest.approx(0.99993, abs=1e-15)
            elif run.augment == 'on':
                assert run.network == 'target'
        controlled = [r for r in runs if r.model.startswith('act-') and r.augment == 'off']
        assert {r.method for r in controlled} == {'ct', 'act'}
        assert len({(r.network, _beta(r)) for r in controlled}) == 1 and controlled[0].network == 'ema'


def test_discriminator_beta2_is_exactly_the_official_one():
    """The official ACT code's D betas are (0, 0.99·16/17) = 0.93176470588…, not 0.9318."""
    assert _prepare()['train']['d_betas'] == [0.0, 0.99 * 16 / 17]
    for name in ('cifar10', 'imagenet64', 'lsun_cat256'):
        for run in expand_runs(load_config(REPO / 'workflow' / 'configs' / 'paper' / f'{name}.yaml')):
            assert run.train['d_betas'][1] == 0.99 * 16 / 17


def test_imagenet64_two_step_sigma_is_cms():
    """CM's ImageNet64 two-step sampler uses ts 0, 106, 200 of 201 Karras steps (descending): σ_106 = 1.913."""
    sigma = karras_sigmas(201)[200 - 106].item()
    assert sigma == pytest.approx(1.9128, abs=1e-4)
    config = load_config(REPO / 'workflow' / 'configs' / 'paper' / 'imagenet64.yaml')
    assert config['evaluation']['two_step_sigma'] == round(sigma, 3) == 1.913


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
