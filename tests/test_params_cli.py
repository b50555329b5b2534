"""`act-bench params <config>`: measured counts beside the official code's and the paper's."""

import json

from act_bench.cli import main


def test_params_of_the_cifar10_paper_config(capsys):
    assert main(['params', 'paper/cifar10']) == 0
    out = json.loads(capsys.readouterr().out)
    nets = out['networks']
    act, ct = nets['cifar10/act-cifar10'], nets['cifar10/ct-cifar10']
    assert act['generator'] == act['official_code']['generator'] == 27_498_886
    assert act['discriminator'] == act['official_code']['discriminator'] == 17_976_834
    assert act['training_total'] == act['generator'] + act['discriminator']
    assert act['inference_total'] == act['generator']
    assert act['paper_reported'] == {'inference_total': 27.5e6, 'training_total': 41.6e6}
    assert ct['generator'] == 56_395_651 and ct['discriminator'] == 0
    assert ct['paper_reported']['inference_total'] == 73.9e6


def test_params_of_a_bundled_config(capsys):
    assert main(['params', 'smoke']) == 0
    nets = json.loads(capsys.readouterr().out)['networks']
    assert nets['digits/tiny']['discriminator'] > 0
    assert nets['digits/tiny']['official_code'] is None


def test_params_of_a_missing_config_is_one_sentence(capsys):
    assert main(['params', 'nope']) == 1
    err = capsys.readouterr().err
    assert 'does not exist' in err and 'Traceback' not in err
