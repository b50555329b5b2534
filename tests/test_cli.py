"""The command line: every command's --help lists its options, and a bad input stops it with one line
`act-bench <cmd>: error: ...` and exit code 1."""

import copy

import pytest
import yaml

from act_bench.cli import COMMANDS, main
from conftest import TINY_CONFIG

RUN_DIR = 'results/unit/runs/toy/ct/batch8/tiny/aug-off/seed0'


def run_options(config):
    return ['--config', config, '--dataset', 'toy', '--method', 'ct', '--batch-size', '8', '--model', 'tiny',
            '--augment', 'off', '--seed', '0']


def bad_inputs(tmp, config):
    """One failing command line per command: a missing config file, an unknown dataset or a missing input."""
    missing = str(tmp / 'missing.yaml')
    return {
        'prepare-data': ['--config', config, '--dataset', 'nope', '--out', str(tmp / 'd.npz')],
        'convert-imagenet64': ['--npz-dir', str(tmp / 'nowhere'), '--out', str(tmp / 'out')],
        'train-classifier': ['--config', config, '--data', str(tmp / 'nope.npz'), '--out', str(tmp / 'c.pt')],
        'train': [*run_options(missing), '--run-dir', str(tmp / 'run')],
        'sample': [*run_options(config), '--final', str(tmp / 'final.pt'), '--out', str(tmp / 's.npz')],
        'evaluate': [*run_options(config)[:3], 'nope', *run_options(config)[4:], '--samples', str(tmp / 's.npz'),
                     '--out', 'm.json'],
        'reference-metrics': ['--config', config, '--dataset', 'toy', '--data', str(tmp / 'no.npz'), '--out', 'r'],
        'metric-curve': [*run_options(config)[:3], 'cifar', *run_options(config)[4:], '--run-dir', str(tmp),
                         '--out', 'c.json'],
        'fid-reference': ['--config', missing, '--dataset', 'toy', '--mode', 'clean', '--out', 'r.npz'],
        'sample-features': [*run_options(missing), '--final', 'f.pt', '--shard', '0', '--out', 's.npz'],
        'evaluate-fid': [*run_options(config), '--features', str(tmp / 'shard0.npz'), '--reference', 'r.npz',
                         '--out', 'm.json'],
        'reference-fid': ['--config', config, '--dataset', 'nope', '--reference', 'r.npz', '--out', 'r.json'],
        'count-params': [*run_options(config)[:-1], '7', '--out', 'p.json'],
        'postprocess': [*run_options(config), '--final', str(tmp / 'final.pt'), '--run-dir', str(tmp)],
        'run-settings': [*run_options(config), '--variant', 'nope', '--out', 'run.yaml'],
        'params': ['nope'],
        'aggregate': ['--config', config, '--run', str(tmp / RUN_DIR), '--out', str(tmp / 'summary.csv')],
        'table': ['--summary', str(tmp / 'summary.csv'), '--out-dir', str(tmp / 'reports')],
        'plots': ['--config', config, '--summary', 's.csv', '--dataset', 'nope', '--run', RUN_DIR, '--out-dir', 'p'],
        'study': ['--config', config, '--summary', str(tmp / 'summary.csv'), '--out-dir', str(tmp / 'reports')],
        'bench': ['nope', '--steps', '1'],
        'estimate': ['nope', '--steps', '1'],
    }


@pytest.fixture
def config_file(tmp_path):
    path = tmp_path / 'unit.yaml'
    path.write_text(yaml.safe_dump(copy.deepcopy(TINY_CONFIG)))
    return str(path)


@pytest.mark.parametrize('name,arguments', [(name, arguments) for name, _, _, arguments in COMMANDS])
def test_help_lists_the_options(name, arguments, capsys):
    with pytest.raises(SystemExit) as exit:
        main([name, '--help'])
    assert exit.value.code == 0
    out = capsys.readouterr().out
    assert out.startswith(f'usage: act-bench {name}')
    for flags, _ in arguments:
        assert all(flag in out for flag in flags)


def test_every_command_has_an_error_case(tmp_path):
    assert set(bad_inputs(tmp_path, 'c.yaml')) == {name for name, *_ in COMMANDS}


@pytest.mark.parametrize('name', [name for name, *_ in COMMANDS])
def test_bad_input_stops_with_one_line(name, tmp_path, config_file, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert main([name, *bad_inputs(tmp_path, config_file)[name]]) == 1
    err = capsys.readouterr().err.strip()
    assert err.startswith(f'act-bench {name}: error: ') and len(err.splitlines()) == 1, err


def test_the_overview_has_a_line_per_command(capsys):
    with pytest.raises(SystemExit):
        main(['--help'])
    lines = capsys.readouterr().out.splitlines()
    for name, help_text, _, _ in COMMANDS:
        assert any(line.split()[:1] == [name] and help_text in line for line in lines), name
