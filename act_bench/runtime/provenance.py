"""Which code produced a result: the act-bench version, the git commit of the checkout it runs from (and
whether its tracked files were modified), and the versions of the libraries the numbers depend on."""

import functools
import subprocess
from importlib import metadata
from pathlib import Path

LIBRARIES = {'torch': 'torch', 'diffusers': 'diffusers', 'clean_fid': 'clean-fid'}
CHECKOUT = Path(__file__).resolve().parents[2]   # the folder holding act_bench/, a git checkout or not


def _version(distribution):
    try:
        return metadata.version(distribution)
    except metadata.PackageNotFoundError:
        return None


def _git(*args):
    return subprocess.run(['git', '-C', str(CHECKOUT), *args], capture_output=True, text=True, timeout=30)


def git_state():
    """{'git_commit', 'git_dirty'} of the checkout act_bench is imported from; both None outside a checkout."""
    if not (CHECKOUT / '.git').exists():
        return {'git_commit': None, 'git_dirty': None}
    try:
        head, status = _git('rev-parse', 'HEAD'), _git('status', '--porcelain', '--untracked-files=no')
    except (OSError, subprocess.TimeoutExpired):
        return {'git_commit': None, 'git_dirty': None}
    if head.returncode:
        return {'git_commit': None, 'git_dirty': None}
    return {'git_commit': head.stdout.strip(), 'git_dirty': bool(status.stdout.strip())}


@functools.lru_cache(maxsize=1)
def code_provenance():
    """act_bench_version, git_commit, git_dirty and the library versions (None where not installed)."""
    return {'act_bench_version': _version('act-bench'), **git_state(),
            **{key: _version(dist) for key, dist in LIBRARIES.items()}}
