"""EMA snapshots during training and the metric over training computed from them."""

import math

from act_bench.training.build import load_generator
from act_bench.data.bundled import load_dataset, prepare_dataset, save_dataset
from act_bench.evaluation.metric_curve import metric_curve
from act_bench.runtime.snapshots import snapshot_files
from act_bench.training.loop import training_loop


def test_snapshots_are_scored_with_the_run_metrics(tiny_config, make_run, tmp_path):
    tiny_config['evaluation']['curve_samples'] = 32
    run = make_run(dataset='toy', method='act', iterations=10, snapshot_every=5)
    data_path = tmp_path / 'toy.npz'
    save_dataset(prepare_dataset(tiny_config['datasets']['toy']), data_path)
    training = training_loop(run, tiny_config['datasets']['toy'], tiny_config['models']['tiny'], data_path,
                             tmp_path / 'run')
    assert [p.name for p in snapshot_files(tmp_path / 'run' / 'snapshots')] == ['ema-000000005.pt', 'ema-000000010.pt']
    lines = []
    curve = metric_curve(tiny_config, run, tmp_path / 'run', load_dataset(data_path), None, load_generator,
                         log=lines.append)
    assert curve['skipped'] is None and len(lines) == 2
    assert [(r['step'], r['metric']) for r in curve['records']] == [(5, 'w2'), (5, 'sliced_w2'), (10, 'w2'),
                                                                    (10, 'sliced_w2')]
    assert all(r['n_generated'] == 32 and math.isfinite(r['value']) for r in curve['records'])
    assert curve['records'][-1]['images_seen'] == 80
    # the last snapshot holds the final EMA network
    last, _ = load_generator(tiny_config, run, snapshot_files(tmp_path / 'run' / 'snapshots')[-1])
    final, _ = load_generator(tiny_config, run, tmp_path / 'run' / 'final.pt')
    assert all(a.equal(b) for a, b in zip(last.state_dict().values(), final.state_dict().values()))
    assert training.step == 10


def test_no_snapshots_is_skipped_with_a_reason(tiny_config, make_run, tmp_path):
    lines = []
    curve = metric_curve(tiny_config, make_run(), tmp_path, None, None, load_generator, log=lines.append)
    assert curve == {'records': [], 'skipped': 'no snapshots: train.snapshot_every is null for this run'}
    assert lines and 'skipped' in lines[0]
