"""Comparison and ablation tables from summary.csv, in Markdown and LaTeX: per dataset, CT / ACT /
ACT-Aug with the primary metric (mean ± std over seeds, or mean and 95 % t-interval: `report.spread`), the
paper's value and the difference, parameters, batch, iterations and GPU-hours; ablations over whatever the
sweep varies."""

import json
import math
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from act_bench.runtime.errors import ConfigError
from act_bench.report.paper_numbers import load_paper_numbers, paper_value
from act_bench.methods import METHOD_TRAITS
from act_bench.report.aggregate import METHOD_LABELS
from act_bench.report.findings import budget_table, curve_frame, dataset_findings, metric_curves, primary_curves
from act_bench.report.stats import t_interval

TABLES = ('summary', 'ablations')   # each written as <table>.md and <table>.tex
WILDCARDS = ['dataset', 'method', 'batch_size', 'model', 'augment', 'seed']
ACT_KNOBS = ['lambda_adv', 'w_mid', 'r1_gamma', 'r1_interval']       # train settings only ACT uses
ABLATIONS = [('batch_size', 'batch size', None), ('augment', 'augmentation (ACT-Aug)', 'act'),
             ('lambda_adv', 'λ (lambda_adv)', 'act'), ('w_mid', 'w_mid (time-dependent λ)', 'act'),
             ('r1_gamma', 'R1 γ (0 = no R1)', 'act'), ('r1_interval', 'R1 interval', 'act'),
             ('distance', 'distance', None), ('iterations', 'iterations', None)]
SHOWN = {'batch_size': 'batch', 'method_label': 'method'}   # column names in the tables
PAPER_COLUMNS = [('fid_1step', 'FID 1-step'), ('fid_2step', 'FID 2-step'), ('is_1step', 'IS 1-step'),
                 ('params_inference_total', 'params (inference)'), ('params_training_total', 'params (training)'),
                 ('batch_size', 'batch'), ('iterations', 'iterations'), ('gpus', 'GPUs'), ('gpu_type', 'GPU')]
MARKS = {'paper': '', 'unverified': '†', 'code': '*'}
NOTE_MARKS = ('† attributed to the paper but not checked against it; * a default of the official code. '
              'Sources: act_bench/report/paper_numbers.yaml.')

#----------------------------------------------------------------------------
# Cell formatting.

def mean_std(values):
    values = pd.Series(values).dropna()
    if len(values) == 0:
        return '—'
    if len(values) == 1:
        return f'{values.iloc[0]:.4g} (n=1)'
    return f'{values.mean():.4g} ± {values.std(ddof=1):.2g} (n={len(values)})'


def decimals(scale, significant=3):
    """Decimal places that show a number of magnitude `scale` with `significant` digits."""
    if not scale or not math.isfinite(scale):
        return significant
    return max(0, significant - 1 - math.floor(math.log10(abs(scale))))


def mean_ci(values, confidence=0.95):
    """'0.173 [0.160, 0.186] (n=3)': the mean and its Student-t interval over seeds."""
    interval = t_interval(pd.Series(values, dtype=float).dropna(), confidence)
    if interval.n == 0:
        return '—'
    if not interval.defined:
        return f'{interval.mean:.4g} (n={interval.n})'
    d = decimals(interval.mean)
    return f'{interval.mean:.{d}f} [{interval.lo:.{d}f}, {interval.hi:.{d}f}] (n={interval.n})'


@dataclass(frozen=True)
class Spread:
    """How a table cell shows the seeds of a setting (config `report.spread`)."""
    cell: object      # values -> the cell's text
    sentence: str     # the tables' note
    brief: str        # the same in a few words


SPREADS = {'std': Spread(mean_std, 'Mean ± sample std over seeds; n = number of seeds.', 'mean ± std over seeds'),
           'ci95': Spread(mean_ci, 'Mean and 95 % Student-t confidence interval over seeds; n = seeds.',
                          'mean and 95 % Student-t confidence interval over seeds')}


def count(n):
    if n is None or (isinstance(n, float) and math.isnan(n)):
        return '—'
    n = float(n)
    return f'{n / 1e6:.2f} M' if n >= 1e6 else (f'{n / 1e3:.1f} k' if n >= 1e3 else f'{n:.0f}')


def hours(h):
    return '—' if h is None or pd.isna(h) else f'{h:.3g}'


def knob_label(value):
    return 'null' if value is None or (isinstance(value, float) and math.isnan(value)) else f'{value:g}' \
        if isinstance(value, float) else str(value)


def paper_cell(v, quantity):
    if v is None:
        return '—'
    value = v['value']
    text = count(value) if quantity.startswith('params') else (f'{value:g}' if isinstance(value, float) else str(value))
    return text + MARKS[v['confidence']]

#----------------------------------------------------------------------------
# Inputs.

HOURS_MEANING = {
    'gpu_hours': 'wall seconds × GPUs of training, checkpoints, work lost to interruptions and evaluation jobs',
    'device_hours_total': 'wall seconds × devices of training, checkpoints, work lost to interruptions and '
                          'evaluation jobs, on the device named in summary.csv',
    'device_hours': 'wall seconds × devices of training, checkpoints and work lost to interruptions'}


def hours_column(summary):
    """`gpu_hours` when some run used a GPU, else the hours on whatever device ran (training, checkpoints and
    evaluation: `device_hours_total`; older summaries: training only, `device_hours`)."""
    if 'gpu_hours' in summary.columns and (summary['gpu_hours'] > 0).any():
        return 'gpu_hours', 'GPU-h'
    if 'device_hours_total' in summary.columns and summary['device_hours_total'].notna().any():
        return 'device_hours_total', 'device-h'
    return 'device_hours', 'device-h'


def load_estimate(path):
    """Projected GPU-hours per run from `act-bench estimate`: {"runs": [{wildcards..., projected_gpu_hours}]}."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f'estimate file {path} does not exist; write it with "act-bench estimate '
                                '<config>" or leave out --estimate')
    runs = json.loads(path.read_text()).get('runs')
    if not isinstance(runs, list) or any(not set(WILDCARDS + ['projected_gpu_hours']) <= set(r) for r in runs):
        raise ConfigError(f'estimate file {path} must hold {{"runs": [...]}} with {", ".join(WILDCARDS)} and '
                          'projected_gpu_hours for every run')
    df = pd.DataFrame(runs)[WILDCARDS + ['projected_gpu_hours']]
    return df.astype({'batch_size': int, 'seed': int, 'dataset': str, 'method': str, 'model': str, 'augment': str})


def with_estimate(summary, estimate):
    if estimate is None:
        return summary
    return summary.merge(estimate, on=WILDCARDS, how='left')

#----------------------------------------------------------------------------
# Tables as DataFrames of strings.

def setting_keys(df):
    """Columns that tell the settings of a dataset's runs apart (all but the seed)."""
    keys = ['method_label', 'model', 'batch_size', 'iterations']
    adversarial = df['method'].map(lambda m: METHOD_TRAITS[m].has_discriminator)
    knobs = [k for k in ACT_KNOBS if k in df.columns and df.loc[adversarial, k].nunique(dropna=False) > 1]
    return keys + knobs + (['variant'] if df['variant'].nunique() > 1 else [])


def _ordered(df, keys):
    df = df.assign(_order=df['method_label'].map(METHOD_LABELS.index))
    return df.sort_values(['_order'] + [k for k in keys if k != 'method_label']).drop(columns='_order')


def comparison(df, entry, cell=mean_std):
    """One dataset: a row per setting (mean over seeds), the paper's value of the primary metric beside it;
    `cell` writes the primary metric's cells."""
    primary = df['primary_metric'].iloc[0]
    hours_col, hours_name = hours_column(df)
    keys = setting_keys(df)
    rows = []
    for setting, runs in df.groupby(keys, sort=False, dropna=False):
        setting = dict(zip(keys, setting))
        paper = paper_value(entry, setting['method_label'], primary)
        ours = runs[primary].dropna()
        row = {'method_label': setting['method_label'], 'model': setting['model'], 'batch_size': setting['batch_size'],
               'iterations': setting['iterations'],
               **{k: '—' if not setting['method_label'].startswith('ACT') and k != 'variant' else knob_label(setting[k])
                  for k in keys[4:]},
               primary: cell(ours)}
        if entry is not None:
            row[f'paper {primary}'] = paper_cell(paper, primary)
            row['Δ vs paper'] = f'{ours.mean() - paper["value"]:+.3g}' if paper and len(ours) else '—'
        if 'data_images_seen' in df.columns:   # summaries written before the equal-cost columns lack them
            row.update({'data images per run': count(runs['data_images_seen'].mean()),
                        'device-s per run': f"{runs['device_seconds'].mean():.3g}"})
        row.update({'params (train)': count(runs['params_training_total'].iloc[0]),
               'params (inference)': count(runs['params_inference_total'].iloc[0]),
               f'{hours_name} per run': hours(runs[hours_col].mean())})
        if 'sacct_gpu_hours' in df.columns and df['sacct_gpu_hours'].notna().any():
            row['sacct GPU-h per run'] = hours(runs['sacct_gpu_hours'].mean())
        if 'projected_gpu_hours' in df.columns:
            row[f'projected {hours_name} per run'] = hours(runs['projected_gpu_hours'].mean())   # same unit
        rows.append(row)
    return _ordered(pd.DataFrame(rows), ['model', 'batch_size']).rename(columns=SHOWN)


def all_metrics(df, cell=mean_std):
    """One dataset: every metric column (1-step and 2-step samplers) per setting."""
    keys = setting_keys(df)
    metric_cols = [c for c in df.columns if c.endswith(('_1step', '_2step')) and df[c].notna().any()]
    out = df.groupby(keys, sort=False, dropna=False).agg(**{c: (c, cell) for c in metric_cols}).reset_index()
    out = out.drop(columns=[k for k in ('iterations',) if k in out.columns and out[k].nunique() == 1])
    return _ordered(out, [k for k in keys if k in out.columns]).rename(columns=SHOWN)


def paper_reference(entry):
    """What the papers report for a dataset entry: a row per variant."""
    variants = load_paper_numbers()['datasets'][entry]['variants']
    rows = [{'method': v, **{name: paper_cell(paper_value(entry, v, q), q) for q, name in PAPER_COLUMNS}}
            for v in METHOD_LABELS if v in variants]
    return pd.DataFrame(rows)


def ablation(df, knob, method, cell=mean_std):
    """The primary metric with `knob` as columns and the other varying settings as rows, or None."""
    df = df if method is None else df[df['method'] == method]
    if df.empty or knob not in df.columns or df[knob].nunique(dropna=False) < 2:
        return None
    primary = df['primary_metric'].iloc[0]
    others = ['method_label'] if knob != 'augment' else ['method']
    others += [k for k in ['model', 'batch_size', 'iterations'] + ACT_KNOBS
               if k != knob and k in df.columns and df[k].nunique(dropna=False) > 1]
    order = ['_label_order'] if others[:1] == ['method_label'] else []
    df = df.assign(_label_order=df['method_label'].map(METHOD_LABELS.index))
    table = df.groupby(order + others + [knob], sort=True, dropna=False)[primary].apply(cell).unstack(knob)
    table.columns = [f'{knob}={knob_label(c)}' + variants_of(df[df[knob] == c]) for c in table.columns]
    table = table.fillna('—').reset_index().drop(columns=order)
    return table.rename(columns=SHOWN)


def variants_of(runs):
    """' (variant a, b)' naming the sweep variants among `runs` ('none' for runs without one), or ''."""
    names = sorted(runs['variant'].unique())
    if names in ([], ['']):
        return ''
    return f" (variant {', '.join(name or 'none' for name in names)})"


#----------------------------------------------------------------------------
# Rendering.

def markdown(df):
    cols = [str(c) for c in df.columns]
    lines = ['| ' + ' | '.join(cols) + ' |', '|' + '---|' * len(cols)]
    lines += ['| ' + ' | '.join(str(v) for v in row) + ' |' for row in df.itertuples(index=False)]
    return '\n'.join(lines)


LATEX_ESCAPES = [('\\', r'\textbackslash{}'), ('&', r'\&'), ('%', r'\%'), ('#', r'\#'), ('_', r'\_'),
                 ('±', r'$\pm$'), ('—', '---'), ('Δ', r'$\Delta$'), ('λ', r'$\lambda$'), ('γ', r'$\gamma$'),
                 ('†', r'$^\dagger$'), ('×', r'$\times$'), ('−', '$-$'), ('≤', r'$\leq$'), ('·', r'$\cdot$')]


def latex_escape(text):
    text = str(text)
    for raw, escaped in LATEX_ESCAPES:
        text = text.replace(raw, escaped)
    return text


def latex(df, caption):
    """A booktabs table (needs \\usepackage{booktabs})."""
    lines = [r'\begin{table}[ht]', r'\centering', r'\small', rf'\caption{{{latex_escape(caption)}}}',
             r'\begin{tabular}{' + 'l' * len(df.columns) + '}', r'\toprule',
             ' & '.join(latex_escape(c) for c in df.columns) + r' \\', r'\midrule']
    lines += [' & '.join(latex_escape(v) for v in row) + r' \\' for row in df.itertuples(index=False)]
    return '\n'.join(lines + [r'\bottomrule', r'\end{tabular}', r'\end{table}'])

#----------------------------------------------------------------------------
# Documents: a list of (heading, text, table) sections rendered both ways.

def commits_note(summary):
    """Which code produced the table's rows: one commit, or every commit with its number of runs when mixed."""
    if 'git_commit' not in summary.columns or summary['git_commit'].isna().all():
        return 'Code: not recorded as a git commit (run outside a checkout, or before provenance was recorded).'
    dirty = summary['git_dirty'].astype(str).str.lower().eq('true') if 'git_dirty' in summary.columns else False
    names = summary['git_commit'].fillna('unknown').str[:12] + pd.Series(dirty, index=summary.index).map(
        {True: ' (modified tree)', False: ''})
    counts = names.value_counts()
    if len(counts) == 1:
        return f'Code: commit {counts.index[0]}.'
    return 'Code: MIXED commits — ' + ', '.join(f'{name}: {n} runs' for name, n in counts.items()) + '.'


FAR_FROM_FLOOR = 3.0   # a mean above this multiple of the data floor is reported as not converged


def floor_sentence(df, floor):
    """' Not converged: …' for the methods whose mean primary metric is over FAR_FROM_FLOOR × the data floor."""
    primary = df['primary_metric'].iloc[0]
    if not floor:
        return ''
    means = df.groupby('method_label', sort=False)[primary].mean()
    far = [f'{label} {mean:.4g} ({mean / floor:.0f}× the floor {floor:.4g})' for label, mean in means.items()
           if mean > FAR_FROM_FLOOR * floor]
    return f' Not converged: {", ".join(far)}; read these comparisons as early-training ones.' if far else ''


def summary_sections(summary, floors, curves, spread='std'):
    hours_col, hours_name = hours_column(summary)
    cell = SPREADS[spread].cell
    sections = [(f"Summary: config `{summary['config'].iloc[0]}`",
                 f'Lower is better for every metric (IS excepted). {SPREADS[spread].sentence} '
                 f'{hours_name} per run: mean over seeds of the run\'s {hours_col} '
                 f'({HOURS_MEANING[hours_col]}). '
                 'Δ vs paper = our mean − the paper\'s value; it is only '
                 'shown where the paper reports the same metric. `fd_digits` is a Fréchet distance in the '
                 'feature space of a small digits classifier, not FID. ' + NOTE_MARKS + ' ' + commits_note(summary),
                 None)]
    for dataset, df in summary.groupby('dataset', sort=False):
        entry = df['paper'].iloc[0] if 'paper' in df.columns and pd.notna(df['paper'].iloc[0]) else None
        primary = df['primary_metric'].iloc[0]
        floor = floors.get((dataset, primary.rsplit('_', 1)[0]))
        note = f'Data floor ({primary.rsplit("_", 1)[0]}, training subsample vs held-out): {floor:.4g}.' \
            if floor is not None else ''
        paper_note = f'Compared with the paper entry `{entry}`.' if entry else 'No paper reports this dataset.'
        found = primary_curves(curves[curves['dataset'] == dataset] if not curves.empty else curves, primary)
        sections.append((f'{dataset}: what the numbers say', dataset_findings(df, found) + floor_sentence(df, floor),
                         None))
        sections.append((f'{dataset}: `{primary}`', f'{note} {paper_note}'.strip(), comparison(df, entry, cell)))
        if not found.empty:
            sections.append((f'{dataset}: `{primary}` at equal cost',
                             'Mean over seeds of each run\'s last EMA snapshot (one-step) within the largest budget '
                             'every run of the dataset reached: training device-seconds, and data images drawn '
                             '(ACT draws two per generator image).', budget_table(found)))
        sections.append((f'{dataset}: all metrics', '', all_metrics(df, cell)))
        if entry:
            title = load_paper_numbers()['datasets'][entry]['title']
            sections.append((f'{dataset}: what the papers report ({title})', NOTE_MARKS, paper_reference(entry)))
    return sections


def ablation_sections(summary, spread='std'):
    sections = [(f"Ablations: config `{summary['config'].iloc[0]}`",
                 f'The primary metric ({SPREADS[spread].brief}) as each setting the sweep varies takes its '
                 'values; rows hold the other settings that vary. ACT-only settings are compared on ACT runs. '
                 + commits_note(summary), None)]
    for dataset, df in summary.groupby('dataset', sort=False):
        for knob, title, method in ABLATIONS:
            table = ablation(df, knob, method, SPREADS[spread].cell)
            if table is not None:
                sections.append((f'{dataset}: {title}, `{df["primary_metric"].iloc[0]}`', '', table))
    if len(sections) == 1:
        sections.append(('No ablations', 'This sweep varies no batch size, augmentation, λ, w_mid or R1 γ '
                         'within a dataset.', None))
    return sections


def render_markdown(sections):
    out = []
    for i, (heading, text, table) in enumerate(sections):
        out += [('# ' if i == 0 else '## ') + heading, '']
        out += [text, ''] if text else []
        out += [markdown(table), ''] if table is not None else []
    return '\n'.join(out)


def render_latex(sections, command='table'):
    out = [f'% {sections[0][0]} (generated by act-bench {command}; needs \\usepackage{{booktabs}})', '']
    for heading, text, table in sections[1:]:
        if table is None:
            out += [f'% {heading}: {text}', '']
            continue
        caption = f'{heading}. {text}'.strip().replace('`', '')
        out += [latex(table, caption), '']
    return '\n'.join(out)


def floors_of(reference_files):
    floors = {}
    for path in reference_files:
        ref = json.loads(Path(path).read_text())
        for r in ref['records']:
            floors[(ref['dataset'], r['metric'])] = r['value']
    return floors


def read_summary(path):
    """summary.csv with `variant` '' for the runs without one (and for summaries written before variants)."""
    summary = pd.read_csv(path, dtype={'variant': str})
    return summary.assign(variant=summary['variant'].fillna('') if 'variant' in summary.columns else '')


def write_tables(summary_path, reference_files, out_dir, estimate_path=None, run_dirs=(), spread='std'):
    """summary.md, summary.tex, ablations.md, ablations.tex under out_dir; `run_dirs`: the runs whose metric
    curves give the equal-cost comparison and the findings; `spread`: a key of SPREADS (config report.spread)."""
    summary = read_summary(summary_path)
    summary = with_estimate(summary, load_estimate(estimate_path) if estimate_path else None)
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    curves = curve_frame(metric_curves(run_dirs)[0], summary)
    documents = dict(zip(TABLES, (summary_sections(summary, floors_of(reference_files), curves, spread),
                                  ablation_sections(summary, spread))))
    for name, sections in documents.items():
        (out_dir / f'{name}.md').write_text(render_markdown(sections))
        (out_dir / f'{name}.tex').write_text(render_latex(sections))
    return [out_dir / f'{name}.{ext}' for name in documents for ext in ('md', 'tex')]
