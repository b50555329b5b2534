"""What a training method is, as far as config validation needs to know it: the data one iteration
draws and how they split, whether the method has a discriminator (and so takes augmentation), and
the train settings it brings as defaults (iCT's recipe), which config.expand_runs applies.

The loss classes (act_bench.training.loss) declare their traits from here, so config.py can check a
sweep without importing training; act_bench.training.build.METHODS is the one map from a method name
to its loss class.
"""

import math
from dataclasses import dataclass, field


@dataclass(frozen=True)
class MethodTraits:
    name: str
    batch_divisors: tuple      # one iteration draws B // d data images for each d (B: the generator batch)
    has_discriminator: bool
    label: str                 # how tables and plots name it (ACT-Aug: the ACT label with augmentation on)
    train_defaults: dict = field(default_factory=dict, compare=False, hash=False)   # over the config's train

    @property
    def augmentable(self):
        """Augmentation (ACT-Aug) applies to the discriminator's inputs only."""
        return self.has_discriminator

    @property
    def data_per_generator_image(self):
        return sum(self.segments(self.batch_parts)) // self.batch_parts

    @property
    def batch_parts(self):
        """The generator batch must be a multiple of this for every draw to be whole."""
        return math.lcm(*self.batch_divisors)

    def segments(self, batch):
        """Sizes of one iteration's consecutive draws for generator batch `batch`."""
        return [batch // d for d in self.batch_divisors]


CT = MethodTraits('ct', batch_divisors=(1,), has_discriminator=False, label='CT')
ACT = MethodTraits('act', batch_divisors=(1, 2, 2), has_discriminator=True, label='ACT')   # G batch, B/2 fake sources, B/2 reals
# iCT (ct-spec §9): the CT loss with pseudo-Huber distance, lognormal σ sampling, 1/(σ_i − σ_{i−1})
# weighting, a teacher without EMA (μ0 = 0) and the doubling curriculum from s0 = 10 to s1 = 1280.
ICT = MethodTraits('ict', batch_divisors=(1,), has_discriminator=False, label='iCT', train_defaults={
    'distance': 'pseudo_huber', 'sigma_sampling': 'lognormal', 'weighting': 'ict', 'mu0': 0.0,
    'schedule': 'ict', 's0': 10, 's1': 1280})
METHOD_TRAITS = {traits.name: traits for traits in (CT, ACT, ICT)}
