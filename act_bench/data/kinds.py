"""Dataset kinds as objects: everything that depends on what kind of data a config's dataset is
(bundled or image data, the clip range, the metric family, the digits classifier, the sample grid,
its shape and classes, the paper entry it is compared with) is asked of its `DatasetKind`, never
decided by comparing kind strings elsewhere."""

from dataclasses import dataclass

from act_bench.runtime.errors import ConfigError


@dataclass(frozen=True)
class DatasetKind:
    name: str
    bundled: bool                 # generated or shipped data, prepared by the workflow into one .npz
    clip: float | None            # samples and consistency targets are clipped to [−clip, clip]; None: unbounded
    metric_family: str            # 'wasserstein' (W2, sliced W2) | 'digits_fd' | 'inception' (FID, IS)
    sample_grid: str              # how the report draws one-step samples: 'scatter' | 'images'
    prepared_input: str | None    # what the workflow prepares for training: 'npz' | 'imagenet64_folder' | None
    paper_entry: str | None       # the paper entry (report/paper_numbers.yaml) compared with by default
    shape: tuple | None = None    # sample shape, when fixed by the kind (else from the spec's resolution)
    channels: int = 3
    num_classes: int | None = None

    @property
    def needs_classifier(self):
        """Its metrics need the digits feature extractor (the train_classifier rule)."""
        return self.metric_family == 'digits_fd'

    @property
    def inception_metrics(self):
        """Evaluated by Inception FID and IS (the sample_features / evaluate_fid rules)."""
        return self.metric_family == 'inception'

    def sample_shape(self, spec):
        """The shape of one sample of a config's dataset entry of this kind."""
        if self.shape is not None:
            return self.shape
        return (self.channels, spec.get('resolution'), spec.get('resolution'))


KINDS = {kind.name: kind for kind in (
    DatasetKind('toy2d', bundled=True, clip=None, metric_family='wasserstein', sample_grid='scatter',
                prepared_input='npz', paper_entry=None, shape=(2,)),
    DatasetKind('digits', bundled=True, clip=1.0, metric_family='digits_fd', sample_grid='images',
                prepared_input='npz', paper_entry=None, channels=1),
    DatasetKind('cifar10', bundled=False, clip=1.0, metric_family='inception', sample_grid='images',
                prepared_input=None, paper_entry='cifar10', shape=(3, 32, 32)),
    DatasetKind('imagenet64', bundled=False, clip=1.0, metric_family='inception', sample_grid='images',
                prepared_input='imagenet64_folder', paper_entry='imagenet64', shape=(3, 64, 64), num_classes=1000),
    DatasetKind('lsun', bundled=False, clip=1.0, metric_family='inception', sample_grid='images',
                prepared_input=None, paper_entry=None),
    DatasetKind('image_folder', bundled=False, clip=1.0, metric_family='inception', sample_grid='images',
                prepared_input=None, paper_entry=None),
)}


def kind_of(spec):
    """The DatasetKind of a config's dataset entry (a mapping with `kind`), or of a kind name."""
    name = spec if isinstance(spec, str) else spec['kind']
    if name not in KINDS:
        raise ConfigError(f"unknown dataset kind '{name}'; expected one of {', '.join(KINDS)}")
    return KINDS[name]

