"""The generated sentences and the equal-budget table read the numbers they are given."""

import pandas as pd
import pytest

from act_bench.report.findings import at_common_budget, budget_table, curve_frame, dataset_findings, flatness


def _curves():
    """CT reaches 0.2 (flat at the end), ACT 0.1 (still falling); ACT's steps cost twice the device time."""
    rows = []
    for label, method, seconds_per_step, values in (('CT', 'ct', 1.0, [0.5, 0.3, 0.21, 0.2]),
                                                    ('ACT', 'act', 2.0, [0.4, 0.3, 0.2, 0.1])):
        for seed in (0, 1):
            for i, v in enumerate(values):
                step = 100 * (i + 1)
                rows.append({'dataset': 'toy', 'method': method, 'label': label, 'method_label': label, 'variant': '',
                             'seed': seed, 'metric': 'w2',
                             'batch_size': 8, 'model': 'tiny', 'augment': 'off',
                             'step': step, 'images_seen': step * 8, 'train_seconds': step * seconds_per_step,
                             'value': v + 0.01 * seed})
    return pd.DataFrame(rows)


def _summary():
    return pd.DataFrame([{'dataset': 'toy', 'method': m, 'method_label': l, 'variant': '', 'seed': s, 'n_devices': 1, 'iterations': 400,
                          'batch_size': 8, 'model': 'tiny', 'augment': 'off',
                          'primary_metric': 'w2_1step', 'w2_1step': v + 0.01 * s}
                         for m, l, v in (('ct', 'CT', 0.2), ('act', 'ACT', 0.1)) for s in (0, 1)])


def test_cost_columns_and_the_common_budget():
    curves = curve_frame(_curves(), _summary())
    act = curves[curves['label'] == 'ACT']
    assert (act['data_images_seen'] == 2 * act['images_seen']).all()   # ACT draws 2B data images per step
    common, values = at_common_budget(curves, 'device_seconds')
    assert common == 400   # CT's runs end at 400 device-seconds, ACT's at 800
    assert sorted(values['CT']) == pytest.approx([0.2, 0.21]) and sorted(values['ACT']) == pytest.approx([0.3, 0.31])


def test_flatness_and_sentences():
    curves = curve_frame(_curves(), _summary())
    changes = flatness(curves)
    assert abs(changes['CT']) < 0.1 < abs(changes['ACT'])
    text = dataset_findings(_summary(), curves)
    assert 'At equal iterations (400), final `w2_1step`, ACT is better than CT: 0.105 vs 0.205' in text
    assert 'At equal cost (400 device-seconds' in text and 'CT is better than ACT: 0.205 vs 0.305' in text
    assert 'CT had flattened' in text and 'ACT was still moving' in text
    table = budget_table(curves)
    assert list(table['label']) == ['CT', 'ACT'] and table.iloc[1]['at 400 device-seconds'] == '0.305 (n=2)'
