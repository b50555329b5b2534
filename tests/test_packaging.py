"""environment.yml (conda, clusters) and pyproject.toml (pip) declare the same dependencies."""

import re
import tomllib

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
