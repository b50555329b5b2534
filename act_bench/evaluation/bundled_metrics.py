"""Metrics behind one interface: a metric is called with (generated, reference) arrays and returns
a record that says what it is. Bundled data: exact W2 and sliced W2 (toy2d, POT) and the
Fréchet distance in a digits classifier's feature space (`fd_digits`; never called FID)."""

import os

import numpy as np

# The metrics work on numpy arrays; skipping POT's torch backend saves seconds per job.
os.environ.setdefault('POT_BACKEND_DISABLE_PYTORCH', '1')
import ot  # noqa: E402

from act_bench.data.kinds import kind_of  # noqa: E402
from act_bench.evaluation.frechet import frechet_distance  # noqa: E402


class ExactW2:
    name = 'w2'
    feature_extractor = None

    def __call__(self, generated, reference):
        a, b = np.asarray(generated, np.float64), np.asarray(reference, np.float64)
        cost = ot.dist(a, b, metric='sqeuclidean')
        return float(np.sqrt(ot.emd2(ot.unif(len(a)), ot.unif(len(b)), cost, numItermax=10_000_000)))


class SlicedW2:
    name = 'sliced_w2'
    feature_extractor = None

    def __init__(self, n_projections=1000, seed=0):
        self.n_projections, self.seed = n_projections, seed

    def __call__(self, generated, reference):
        a, b = np.asarray(generated, np.float64), np.asarray(reference, np.float64)
        return float(ot.sliced_wasserstein_distance(a, b, n_projections=self.n_projections, p=2, seed=self.seed))


class FrechetDistance:
    """Fréchet distance between Gaussian fits of features (`act_bench.evaluation.frechet`)."""

    def __init__(self, name, extractor):
        self.name, self.extractor = name, extractor
        self.feature_extractor = f'{extractor.name} ({extractor.source})'

    def __call__(self, generated, reference):
        stats = [(f.mean(0), np.cov(f, rowvar=False)) for f in (self.extractor(generated), self.extractor(reference))]
        return frechet_distance(*stats[0], *stats[1])


def metrics_for(data_kind, classifier_path=None):
    """The metrics of a dataset kind (a DatasetKind or its name): W2 and sliced W2, or the digits FD."""
    kind = kind_of(data_kind)
    if kind.metric_family == 'wasserstein':
        return [ExactW2(), SlicedW2()]
    if not kind.needs_classifier:
        from act_bench.runtime.errors import ConfigError
        raise ConfigError(f'datasets of kind {kind.name} are evaluated by Inception FID and IS (the workflow\'s '
                          'sample_features and evaluate_fid rules, act_bench.evaluation.inception), not by these metrics')
    from act_bench.evaluation.digits_classifier import ClassifierFeatures
    return [FrechetDistance('fd_digits', ClassifierFeatures(classifier_path))]


def evaluate(metrics, samples, reference, reference_name, network=None):
    """Records for every metric × sampler in `samples` (a mapping sampler name → array), each naming the
    generator network that drew them (ema, target, online; None for data)."""
    records = []
    for sampler, generated in samples.items():
        for metric in metrics:
            records.append({'metric': metric.name, 'sampler': sampler, 'value': metric(generated, reference),
                            'n_generated': len(generated), 'n_reference': len(reference),
                            'reference': reference_name, 'feature_extractor': metric.feature_extractor,
                            'mode': None, 'network': network})
    return records
