"""environment.yml (conda, clusters) and pyproject.toml (pip) declare the same dependencies."""

import re
import tomllib

import pytest
import yaml

from conftest import REPO


def _name(requirement):
    return re.split(r'[<>=!\[ ;]', requirement, maxsplit=1)[0].lower().replace('_', '-')


def test_environment_yml_covers_pyproject_dependencies():
    project = tomllib.loads((REPO / 'pyproject.toml').read_text())['project']
    wanted = {_name(r) for r in project['dependencies'] + project['optional-dependencies']['test']}
    env = yaml.safe_load((REPO / 'environment.yml').read_text())
    conda = {_name(d) for d in env['dependencies'] if isinstance(d, str)}
    pip = {_name(d) for d in next(d['pip'] for d in env['dependencies'] if isinstance(d, dict))}
    conda_names = {'pytorch': 'torch'}
    have = {conda_names.get(n, n) for n in conda} | pip
    assert wanted <= have, f'missing from environment.yml: {sorted(wanted - have)}'


@pytest.mark.heavy   # builds and installs a wheel, then runs the CLI in a fresh process (CI: pytest -m heavy)
def test_a_built_wheel_works_outside_the_checkout(tmp_path):
    """`pip install .` (not editable) ships the schema and the paper numbers as package data, so
    `act-bench params <config.yaml>` works from any directory."""
    import os
    import shutil
    import subprocess
    import sys
    wheels, site, source = tmp_path / 'wheels', tmp_path / 'site', tmp_path / 'source'
    # build from a copy: building writes build/ beside the source
    shutil.copytree(REPO / 'act_bench', source / 'act_bench', ignore=shutil.ignore_patterns('__pycache__'))
    for name in ('pyproject.toml', 'README.md'):
        shutil.copy(REPO / name, source / name)
    pip = [sys.executable, '-m', 'pip', '--disable-pip-version-check', '--no-input']
    subprocess.run([*pip, 'wheel', '--no-deps', '--no-build-isolation', '-q', '-w', str(wheels), str(source)],
                   check=True, capture_output=True, cwd=tmp_path)
    wheel, = wheels.glob('act_bench-*.whl')
    subprocess.run([*pip, 'install', '--no-deps', '-q', '--target', str(site), str(wheel)], check=True,
                   capture_output=True)
    elsewhere = tmp_path / 'elsewhere'
    elsewhere.mkdir()
    config = elsewhere / 'mine.yaml'
    config.write_text((REPO / 'workflow' / 'configs' / 'smoke.yaml').read_text())
    env = {**os.environ, 'PYTHONPATH': str(site)}   # the wheel's act_bench before any checkout's
    result = subprocess.run([sys.executable, '-c', 'import sys, act_bench.cli; sys.exit(act_bench.cli.main())',
                             'params', 'mine.yaml'], cwd=elsewhere, env=env, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr[-2000:]
    assert '"networks"' in result.stdout
    probe = subprocess.run([sys.executable, '-c', 'import act_bench; print(act_bench.__file__)'], cwd=elsewhere,
                           env=env, capture_output=True, text=True, check=True)
    assert probe.stdout.startswith(str(site))
