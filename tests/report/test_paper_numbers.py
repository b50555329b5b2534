"""The papers' reported numbers: the shipped file validates, holds the headline FIDs with their sources,
and config datasets map to its entries."""

import tomllib

import pytest
import yaml

from act_bench.config import config_path, load_config
from act_bench.report.paper_counts import paper_reported
from act_bench.report.paper_numbers import (PAPER_NUMBERS_PATH, PaperNumbersError, load_paper_numbers, paper_entry,
                                     paper_value)
from conftest import REPO


@pytest.mark.parametrize('entry, ct, act_variant, act', [('cifar10', 8.7, 'ACT-Aug', 6.0),
                                                         ('imagenet64', 13.0, 'ACT', 10.6),
                                                         ('lsun_cat256', 20.7, 'ACT', 13.0)])
def test_headline_one_step_fids(entry, ct, act_variant, act):
    assert paper_value(entry, 'CT', 'fid_1step')['value'] == ct
    assert paper_value(entry, act_variant, 'fid_1step')['value'] == act
    assert paper_value(entry, act_variant, 'fid_1step')['source'] == 'act_paper'


def test_every_value_names_a_known_source_and_where():
    numbers = load_paper_numbers()
    for entry in numbers['datasets'].values():
        for values in entry['variants'].values():
            for v in values.values():
                assert v['source'] in numbers['sources'] and v['where'].strip()


def test_missing_value_is_none_not_an_error():
    assert paper_value('lsun_cat256', 'CT', 'is_1step') is None
    assert paper_value(None, 'CT', 'fid_1step') is None


def test_malformed_file_is_one_sentence(tmp_path):
    numbers = yaml.safe_load(PAPER_NUMBERS_PATH.read_text())
    del numbers['datasets']['cifar10']['variants']['CT']['fid_1step']['source']
    bad = tmp_path / 'numbers.yaml'
    bad.write_text(yaml.safe_dump(numbers))
    with pytest.raises(PaperNumbersError, match="datasets.cifar10.variants.CT.fid_1step: 'source' is a required"):
        load_paper_numbers(bad)


def test_paper_configs_map_to_entries_and_bundled_data_to_none():
    for name, entry in (('paper/cifar10', 'cifar10'), ('paper/imagenet64', 'imagenet64'),
                        ('paper/lsun_cat256', 'lsun_cat256')):
        datasets = load_config(config_path(name))['datasets']
        assert [paper_entry(d) for d in datasets.values()] == [entry]
    assert {paper_entry(d) for d in load_config(config_path('default'))['datasets'].values()} == {None}


def test_paper_counts_read_the_data_file_and_it_is_package_data():
    assert paper_reported('act-imagenet64') == {'inference_total': 107e6, 'training_total': 161e6}
    assert paper_reported('act-lsun-cat256') is None
    package_data = tomllib.loads((REPO / 'pyproject.toml').read_text())['tool']['setuptools']['package-data']
    assert PAPER_NUMBERS_PATH.name in package_data['act_bench.report']
