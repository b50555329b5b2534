"""The study of the paper's claims: comparisons and verdicts computed from synthetic cells, the
document written from a synthetic summary and curves, and the `act-bench study` command."""

import copy
import json

import pandas as pd
import pytest
import yaml

from act_bench.cli import main
from act_bench.config import prepare_config
from act_bench.report.stats import Interval
from act_bench.report.study import (CONTRADICTED, INCONCLUSIVE, SUPPORTED, UNTESTED, Comparison, claim_rows,
                                    claims_of, study_sections, verdict)
from act_bench.report.study_plots import STUDY_PLOTS
from act_bench.report.tables import render_markdown
from conftest import TINY_CONFIG

PARAMS = {'small': 100_000, 'large': 400_000}


def _config(**study):
    return prepare_config({**copy.deepcopy(TINY_CONFIG), 'study': study}, 'study test config')


def _run(label, batch, seed, value, model='small'):
    method = {'CT': 'ct', 'iCT': 'ict', 'ACT': 'act', 'ACT-Aug': 'act'}[label]
    return {'config': 'unit', 'dataset': 'digits', 'method': method, 'method_label': label, 'label': label,
            'variant': '', 'batch_size': batch, 'model': model, 'augment': 'on' if label == 'ACT-Aug' else 'off',
            'seed': seed, 'iterations': 100, 'primary_metric': 'fd_digits_1step', 'fd_digits_1step': value,
            'params_inference_total': PARAMS[model], 'device_seconds': 0.5 * batch + seed, 'git_commit': 'abc123def456',
            'git_dirty': False}


def _cells(values):
    """{(label, batch, model): [value per seed]} as summary rows."""
    return pd.DataFrame([_run(label, batch, seed, v, model) for (label, batch, model), vs in values.items()
                         for seed, v in enumerate(vs)])


def _verdicts(runs, curves=None, **study):
    rows = claim_rows(runs, pd.DataFrame() if curves is None else curves, claims_of(_config(**study)))
    return [(verdict(comparisons), comparisons) for _, _, comparisons, _ in rows]


CT64 = [2.0, 2.1, 1.9]


@pytest.mark.parametrize('act8,expected', [([1.0, 1.1, 0.9], SUPPORTED), ([3.0, 3.1, 2.9], CONTRADICTED),
                                           ([1.5, 2.5, 2.0], INCONCLUSIVE)])
def test_batch_claim_verdicts(act8, expected):
    runs = _cells({('CT', 64, 'small'): CT64, ('ACT', 8, 'small'): act8, ('ACT', 32, 'small'): [9.0, 9.0, 9.0]})
    (batch_verdict, comparisons), model, steps, augment = _verdicts(runs)
    assert batch_verdict == expected and [c.name for c in comparisons] == ['ACT@8 − CT@64']   # 8 ≤ 64/6 < 32
    assert model[0] == steps[0] == augment[0] == UNTESTED


def test_welch_evidence_by_hand():
    runs = _cells({('CT', 64, 'small'): CT64, ('ACT', 8, 'small'): [1.0, 1.1, 0.9]})
    table = pd.DataFrame([{'verdict': v, 'c': c} for v, c in _verdicts(runs)])
    interval = table['c'][0][0].interval   # −1 ± t(0.975, 4 dof) · √(2 · 0.01/3) = −1 ± 2.776 · 0.0816
    assert (interval.mean, interval.lo, interval.hi) == pytest.approx((-1.0, -1.2267, -0.7733), abs=1e-4)


def test_the_rule_needs_one_side_only():
    below = Comparison('a', Interval(-1.0, -1.5, -0.5, 3), 2.0)
    above = Comparison('b', Interval(1.0, 0.5, 1.5, 3), 2.0)
    single = Comparison('c', Interval(-1.0, float('nan'), float('nan'), 1), 2.0)
    assert verdict([below, single]) == SUPPORTED and verdict([above]) == CONTRADICTED
    assert verdict([below, above]) == INCONCLUSIVE and verdict([single]) == INCONCLUSIVE and verdict([]) == UNTESTED


def test_model_claim_states_the_ratio_tested():
    runs = _cells({('CT', 32, 'large'): [2.0, 2.1, 1.9], ('ACT', 32, 'small'): [1.0, 1.1, 0.9],
                   ('CT', 32, 'small'): [3.0, 3.0, 3.1]})
    _, (model_verdict, (comparison,)), _, _ = _verdicts(runs)
    assert model_verdict == SUPPORTED and comparison.name == 'ACT@32 small − CT@32 large'
    assert comparison.note == 'small 100.0 k vs large 400.0 k inference parameters: 4× fewer'
    _, (_, (short,)), _, _ = _verdicts(runs, params_ratio=5)
    assert short.note.endswith("4× fewer, short of the claim's 5×")


def _curves(values_by_label, batch=16):
    """Snapshots at steps 50 and 100 of K = 100: {label: ([value at 50 per seed], [value at 100 per seed])}."""
    rows = []
    for label, (half, full) in values_by_label.items():
        for seed, (h, f) in enumerate(zip(half, full)):
            rows += [{'dataset': 'digits', 'label': label, 'model': 'small', 'batch_size': batch, 'seed': seed,
                      'step': step, 'value': value, 'iterations': 100, 'metric': 'fd_digits'}
                     for step, value in ((50, h), (100, f))]
    return pd.DataFrame(rows)


def test_steps_claim_pairs_the_challenger_at_half_k_with_the_baseline_at_k():
    curves = _curves({'CT': ([3.0, 3.2, 3.1], [2.0, 2.2, 2.1]), 'ACT': ([1.0, 1.2, 1.1], [0.5, 0.5, 0.5])})
    runs = _cells({('CT', 16, 'small'): [2.0, 2.2, 2.1], ('ACT', 16, 'small'): [0.5, 0.5, 0.5]})
    _, _, (steps_verdict, (comparison,)), _ = _verdicts(runs, curves)
    assert comparison.name == 'ACT@16 step 50 − CT@16 step 100' and steps_verdict == SUPPORTED
    assert comparison.interval.mean == pytest.approx(-1.0) and comparison.interval.n == 3   # diffs −1, −0.9, −1
    _, _, (_, (late,)), _ = _verdicts(runs, curves, steps_fraction=1.0)
    assert late.name == 'ACT@16 step 100 − CT@16 step 100'


def test_augmentation_claim_and_few_seeds_note():
    runs = _cells({('ACT', 16, 'small'): [1.0, 1.1, 0.9], ('ACT-Aug', 16, 'small'): [0.7]})
    *_, (augment_verdict, (comparison,)) = _verdicts(runs)
    assert augment_verdict == INCONCLUSIVE and comparison.note == 'n < 2: 1 seed(s) shared by ACT-Aug@16 and ACT@16'


def _study_runs():
    values = {('CT', 8, 'small'): [3.0, 3.1, 2.9], ('CT', 64, 'small'): CT64, ('iCT', 64, 'small'): [2.4, 2.6, 2.5],
              ('ACT', 8, 'small'): [1.0, 1.1, 0.9], ('ACT', 64, 'small'): [0.8, 0.9, 0.7],
              ('ACT-Aug', 8, 'small'): [0.6, 0.7, 0.5]}
    return _cells(values)


def test_study_document_from_a_synthetic_summary_and_curves():
    curves = _curves({'CT': ([4.0, 4.1, 3.9], [3.0, 3.1, 2.9]), 'ACT': ([2.0, 2.1, 1.9], [1.0, 1.1, 0.9])}, batch=8)
    md = render_markdown(study_sections(_study_runs(), curves, claims_of(_config())))
    assert md.startswith('# Study: config `unit`') and 'Seeds per cell: n = 3.' in md
    assert 'Code: commit abc123def456.' in md
    assert 'mean and 95 % Student-t confidence interval' in md and 'Verdict rule: *supported*' in md
    assert '| (a) batch: ACT at ≤ 1/6 of CT\'s batch is better | supported | Welch (unpaired) | ' \
           'ACT@8 − CT@64: −1.00 [−1.23, −0.77] | — |' in md
    assert '| (b) model size: ACT with ≤ 1/2 of CT\'s inference parameters is better | not tested |' in md
    assert '| (c) steps: ACT at 0.5·K steps is better than CT at K | supported | paired by seed, metric curves | ' \
           'ACT@8 step 50 − CT@8 step 100: −1.00 [−1.00, −1.00] |' in md
    assert '| (d) augmentation: ACT-Aug is better than ACT | supported | paired by seed | ' \
           'ACT-Aug@8 − ACT@8: −0.400 [−0.400, −0.400] | — |' in md
    assert '| ACT | small | 100.0 k | 1.00 [0.75, 1.25] (n=3) | 0.800 [0.552, 1.048] (n=3) |' in md
    assert '| iCT − CT | small | 64 | 3 | +0.500 [+0.252, +0.748] | +25.0 % | — |' in md
    assert '| ACT-Aug − ACT | small | 8 | 3 | −0.400 [−0.400, −0.400] | −40.0 % | — |' in md
    assert '![study_metric_vs_batch_size](digits/study_metric_vs_batch_size.png)' in md


def _curve_file(run_dir, rows):
    run_dir.mkdir(parents=True)
    (run_dir / 'metric_curve.json').write_text(json.dumps({'records': rows, 'skipped': None}))


def test_study_command_writes_the_document_and_plots(tmp_path, capsys):
    runs = _study_runs()
    runs.drop(columns='label').to_csv(tmp_path / 'summary.csv', index=False)
    config = {**copy.deepcopy(TINY_CONFIG), 'study': {'challenger': 'act'}}
    (tmp_path / 'unit.yaml').write_text(yaml.safe_dump(config))
    run_args = []
    for run in runs.itertuples():
        d = tmp_path / f'results/unit/runs/digits/{run.method}/batch{run.batch_size}/small/aug-{run.augment}/seed{run.seed}'
        _curve_file(d, [{'step': s, 'images_seen': s * run.batch_size, 'train_seconds': s / 10, 'metric': 'fd_digits',
                         'sampler': '1-step', 'value': run.fd_digits_1step * (2 if s == 50 else 1)} for s in (50, 100)])
        run_args += ['--run', str(d)]
    out = tmp_path / 'reports'
    assert main(['study', '--config', str(tmp_path / 'unit.yaml'), '--summary', str(tmp_path / 'summary.csv'),
                 *run_args, '--out-dir', str(out)]) == 0
    md = (out / 'study.md').read_text()
    assert '| (c) steps: ACT at 0.5·K steps is better than CT at K | supported |' in md
    assert 'ACT@8 step 50 − CT@8 step 100: −1.00 [−1.25, −0.75]' in md
    assert r'\begin{tabular}' in (out / 'study.tex').read_text()
    for stem in STUDY_PLOTS:
        assert (out / 'digits' / f'{stem}.png').read_bytes().startswith(b'\x89PNG')
        assert (out / 'digits' / f'{stem}.pdf').read_bytes().startswith(b'%PDF')


def test_a_config_without_a_study_block_stops_with_one_sentence(tmp_path, capsys):
    (tmp_path / 'unit.yaml').write_text(yaml.safe_dump(copy.deepcopy(TINY_CONFIG)))
    assert main(['study', '--config', str(tmp_path / 'unit.yaml'), '--summary', 'nope.csv', '--out-dir', 'r']) == 1
    assert capsys.readouterr().err.strip() == ('act-bench study: error: config unit has no `study:` block; add one '
                                               "(act_bench/config.schema.yaml) to compare the paper's claims")
    with pytest.raises(Exception, match='both act'):
        claims_of(_config(baseline='act'))


def test_study_block_defaults_are_the_papers():
    study = _config()['study']
    assert study == {'baseline': 'ct', 'challenger': 'act', 'batch_ratio': 6, 'params_ratio': 2,
                     'steps_fraction': 0.5, 'confidence': 0.95}
    assert _config()['report'] == {'spread': 'std'} and 'study' not in prepare_config(copy.deepcopy(TINY_CONFIG))
