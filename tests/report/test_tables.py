"""Tables from a summary.csv: paper values and differences, GPU-hours (measured, sacct, projected),
ablations over what the sweep varies, Markdown and LaTeX."""

import json
import math

import pandas as pd
import pytest

from act_bench.cli import main
from act_bench.report.tables import ablation, comparison, hours_column, latex, write_tables


def _row(dataset, method, batch, augment, seed, value, paper=None, metric='fid_1step', **extra):
    label = 'CT' if method == 'ct' else ('ACT-Aug' if augment == 'on' else 'ACT')
    row = {'config': 't', 'dataset': dataset, 'method': method, 'batch_size': batch, 'model': 'm',
           'augment': augment, 'seed': seed, 'variant': '', 'method_label': label, 'primary_metric': metric, metric: value,
           'params_training_total': 2e6 if method == 'act' else 1e6, 'params_inference_total': 1e6,
           'iterations': 100, 'device_hours': 0.5, 'lambda_adv': 0.3, 'w_mid': math.nan, 'r1_gamma': 10.0,
           'paper': paper}
    return {**row, **extra}


@pytest.fixture
def summary():
    rows = [_row('cifar10', 'ct', 80, 'off', s, 9.0 + s, 'cifar10', gpu_hours=2.0, sacct_gpu_hours=2.5) for s in (0, 1)]
    rows += [_row('cifar10', 'act', 80, 'on', s, 7.0, 'cifar10', gpu_hours=3.0) for s in (0, 1)]
    rows += [_row('cifar10', 'act', 80, 'off', 0, 8.0, 'cifar10', gpu_hours=3.0, lambda_adv=lam, r1_gamma=g)
             for lam, g in ((0.3, 10.0), (0.6, 10.0), (0.3, 0.0))]
    rows += [_row('toy', m, b, 'off', 0, 0.1 * b, metric='w2_1step') for m in ('ct', 'act') for b in (8, 16)]
    return pd.DataFrame(rows)


def test_comparison_has_paper_value_difference_and_gpu_hours(summary):
    table = comparison(summary[summary['dataset'] == 'cifar10'], 'cifar10')
    ct = table[table['method'] == 'CT'].iloc[0]
    assert ct['fid_1step'] == '9.5 ± 0.71 (n=2)'
    assert ct['paper fid_1step'] == '8.7' and ct['Δ vs paper'] == '+0.8'
    assert ct['GPU-h per run'] == '2' and ct['sacct GPU-h per run'] == '2.5'
    aug = table[table['method'] == 'ACT-Aug'].iloc[0]
    assert aug['paper fid_1step'] == '6' and aug['Δ vs paper'] == '+1' and aug['params (train)'] == '2.00 M'
    assert list(table['method']) == ['CT', 'ACT', 'ACT', 'ACT', 'ACT-Aug']
    assert {'lambda_adv', 'r1_gamma'} <= set(table.columns) and 'w_mid' not in table.columns


def test_bundled_data_has_no_paper_columns_and_falls_back_to_device_hours(summary):
    toy = summary[summary['dataset'] == 'toy'].drop(columns=['gpu_hours', 'sacct_gpu_hours'])
    assert hours_column(toy) == ('device_hours', 'device-h')
    table = comparison(toy, None)
    assert 'paper w2_1step' not in table.columns and 'sacct GPU-h per run' not in table.columns
    assert table['device-h per run'].tolist() == ['0.5'] * 4


def test_ablations_only_for_what_varies(summary):
    cifar = summary[summary['dataset'] == 'cifar10']
    lam = ablation(cifar, 'lambda_adv', 'act')
    assert list(lam.columns) == ['method', 'r1_gamma', 'lambda_adv=0.3', 'lambda_adv=0.6']
    r1 = ablation(cifar, 'r1_gamma', 'act')
    assert r1.loc[r1['method'] == 'ACT', 'r1_gamma=0'].tolist() == ['8 (n=1)', '—']
    aug = ablation(cifar, 'augment', 'act')
    assert aug is not None and 'augment=on' in aug.columns
    assert ablation(cifar, 'batch_size', None) is None and ablation(cifar, 'w_mid', 'act') is None
    toy = ablation(summary[summary['dataset'] == 'toy'], 'batch_size', None)
    assert list(toy.columns) == ['method', 'batch_size=8', 'batch_size=16']


def test_latex_escapes():
    tex = latex(pd.DataFrame({'fid_1step': ['9.5 ± 0.71'], 'Δ': ['—']}), 'a_b & 50%')
    assert r'fid\_1step' in tex and r'$\pm$' in tex and '---' in tex and r'a\_b \& 50\%' in tex
    assert tex.count(r'\\') == 2 and r'\toprule' in tex


def test_table_command_with_estimate(summary, tmp_path, capsys):
    summary.to_csv(tmp_path / 'summary.csv', index=False)
    runs = [{**r, 'projected_gpu_hours': 4.0, 'notes': 'x'} for r in
            summary[['dataset', 'method', 'batch_size', 'model', 'augment', 'seed']].to_dict('records')]
    (tmp_path / 'estimate.json').write_text(json.dumps({'config': 't', 'runs': runs}))
    out = tmp_path / 'reports'
    assert main(['table', '--summary', str(tmp_path / 'summary.csv'), '--estimate', str(tmp_path / 'estimate.json'),
                 '--out-dir', str(out)]) == 0
    md = (out / 'summary.md').read_text()
    header = next(line for line in md.splitlines() if line.startswith('| method | model | batch | iterations'))
    assert header.endswith('| GPU-h per run | sacct GPU-h per run | projected GPU-h per run |')
    assert '| 2 | 2.5 | 4 |' in md
    assert 'what the papers report' in md and '73.90 M†' in md
    assert 'lambda_adv=0.6' in (out / 'ablations.md').read_text()
    assert r'\begin{tabular}' in (out / 'summary.tex').read_text()
    assert main(['table', '--summary', str(tmp_path / 'summary.csv'), '--estimate', str(tmp_path / 'nope.json'),
                 '--out-dir', str(out)]) == 1
    assert 'estimate file' in capsys.readouterr().err


def test_write_tables_returns_four_files(summary, tmp_path):
    summary.to_csv(tmp_path / 's.csv', index=False)
    files = write_tables(tmp_path / 's.csv', [], tmp_path / 'r')
    assert sorted(f.name for f in files) == ['ablations.md', 'ablations.tex', 'summary.md', 'summary.tex']


def test_methods_far_above_the_data_floor_are_called_not_converged():
    import pandas as pd
    from act_bench.report.tables import floor_sentence
    df = pd.DataFrame({'primary_metric': ['w2_1step'] * 4, 'method_label': ['CT', 'CT', 'ACT', 'ACT'],
                       'w2_1step': [1.0, 1.2, 0.2, 0.2]})
    assert floor_sentence(df, 0.1) == ' Not converged: CT 1.1 (11× the floor 0.1); read these comparisons as early-training ones.'
    assert floor_sentence(df, 1.0) == '' and floor_sentence(df, None) == ''


def test_ci95_cells():
    from act_bench.report.tables import mean_ci
    # mean 0.173, sd 0.013, t(0.975, 2) · sd / √3 = 0.0323
    assert mean_ci([0.160, 0.173, 0.186]) == '0.173 [0.141, 0.205] (n=3)'
    assert mean_ci([12.0, 13.0]) == '12.5 [6.1, 18.9] (n=2)' and mean_ci([0.5]) == '0.5 (n=1)' and mean_ci([]) == '—'


def test_table_command_with_ci95_spread(summary, tmp_path):
    summary.to_csv(tmp_path / 'summary.csv', index=False)
    out = tmp_path / 'reports'
    assert main(['table', '--summary', str(tmp_path / 'summary.csv'), '--spread', 'ci95', '--out-dir', str(out)]) == 0
    md = (out / 'summary.md').read_text()
    assert 'Mean and 95 % Student-t confidence interval over seeds; n = seeds.' in md
    assert '| CT | m | 80 | 100 | — | — | 9.50 [3.15, 15.85] (n=2) | 8.7 |' in md   # 9.5 ± 12.706 · 0.5
    assert '±' not in md.split('## cifar10: what the papers report')[0]
    ablations = (out / 'ablations.md').read_text()
    assert 'mean and 95 % Student-t confidence interval over seeds' in ablations and '7.00 [7.00, 7.00] (n=2)' in ablations
