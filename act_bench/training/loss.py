"""Losses: Consistency Training (CT) and Adversarial Consistency Training (ACT).

A loss is a small object called with (net, images, target, n) that returns one loss per
sample; the training loop takes the mean and steps the generator. CT and ACT differ only
here: ACT also owns the discriminator, its optimiser and the augmentation controller, and
runs the discriminator step in `after_generator_step` (act-spec §3). Whoever needs to know
what a loss trains asks it: `traits` (the data it draws per iteration, act_bench.methods),
`networks()` and `optimizers()` beyond the generator's, `r1_cadence`, `use_sdpa(on)`.
"""

import math

import torch
import torch.nn.functional as F

from act_bench.methods import ACT, CT, ICT
from act_bench.runtime import distributed
from act_bench.training.networks import set_attention
from act_bench.training.schedules import adversarial_weight, karras_sigmas

#----------------------------------------------------------------------------
# Distances d(online, target), one value per sample.

def l2_distance(a, b):
    """Per-pixel mean of squared differences, as the official CM code's 'l2' (ct-spec §6)."""
    return (a - b).square().flatten(1).mean(1)


def pseudo_huber_distance(a, b):
    """iCT's sqrt(‖a − b‖² + c²) − c with c = 0.00054·√d."""
    c = 0.00054 * math.sqrt(a[0].numel())
    return torch.sqrt((a - b).square().flatten(1).sum(1) + c ** 2) - c


DISTANCES = {'l2': l2_distance, 'pseudo_huber': pseudo_huber_distance}


def noise_like(x):
    """Standard normal noise shaped like x, drawn for the global batch (`distributed.rows`)."""
    return distributed.rows(lambda m: torch.randn((m, *x.shape[1:]), dtype=x.dtype, device=x.device), len(x))

#----------------------------------------------------------------------------

class CTLoss:
    """Consistency Training: d(f_θ(x + σ_i z, σ_i), clip(f_θ⁻(x + σ_{i−1} z, σ_{i−1}))), i ~ U{1..N−1}."""

    traits = CT
    # LPIPSDistance options of the CM code (ct-spec §6): VGG average pools, resize to 224 only below 256 px
    lpips_variant = {'replace_pooling': True, 'resize_only_below': 256}

    def __init__(self, distance='l2', sigma_min=0.002, sigma_max=80.0, rho=7.0, clip_target=None,
                 sigma_sampling='uniform', weighting='uniform', p_mean=-1.1, p_std=2.0):
        self.distance = DISTANCES[distance] if isinstance(distance, str) else distance
        self.sigma_min, self.sigma_max, self.rho = sigma_min, sigma_max, rho
        self.clip_target = clip_target
        self.sigma_sampling, self.weighting = sigma_sampling, weighting
        self.p_mean, self.p_std = p_mean, p_std
        self.stats = {}
        self.grids = {}   # n -> the σ grid in float64 (see sigma_grid)
        self.distributions = {}   # n -> iCT's index probabilities on that grid (see index_distribution)

    @property
    def data_per_generator_image(self):
        """Data images drawn per generator image each iteration."""
        return self.traits.data_per_generator_image

    def batch_segments(self, batch):
        """Sizes of the consecutive draws of one iteration with generator batch `batch`."""
        return self.traits.segments(batch)

    def networks(self):
        """{name: module} of the networks this loss trains besides the generator."""
        return {}

    def optimizers(self):
        """The optimisers this loss steps besides the generator's."""
        return []

    @property
    def r1_cadence(self):
        """Every how many steps the R1 penalty runs (at steps ≡ 0), or None without one."""
        return None

    def use_sdpa(self, on):
        """The 'sdpa' speed-up (act_bench.training.speedups): nothing to switch without a discriminator."""

    def compile_discriminator(self, on):
        """The 'compile_d' speed-up: nothing to compile without a discriminator."""

    def sigma_grid(self, n):
        """The n-point Karras grid, built once per n (N changes a few dozen times over a run)."""
        if n not in self.grids:
            self.grids[n] = karras_sigmas(n, self.sigma_min, self.sigma_max, self.rho)
        return self.grids[n]

    def index_distribution(self, n):
        """index_probabilities of the n-point grid in float32, built once per n like the grid."""
        if n not in self.distributions:
            self.distributions[n] = self.index_probabilities(self.sigma_grid(n)).float()
        return self.distributions[n]

    def index_probabilities(self, grid):
        """iCT's discretised lognormal over the pairs (σ_{i−1}, σ_i), i = 1..N−1."""
        cdf = torch.erf((grid.log() - self.p_mean) / (math.sqrt(2) * self.p_std))
        mass = (cdf[1:] - cdf[:-1]).clamp_min(0)
        return mass / mass.sum()

    def sample_sigmas(self, batch, n, device, distribution='uniform'):
        """Grid index i ∈ {1..N−1} per sample (uniform, or iCT's lognormal), with σ_i and σ_{i−1}."""
        grid = self.sigma_grid(n)
        if distribution == 'lognormal':
            probabilities = self.index_distribution(n)
            index = distributed.rows(lambda m: torch.multinomial(probabilities, m, replacement=True), batch) + 1
        else:
            index = distributed.rows(lambda m: torch.randint(1, n, (m,)), batch)
        grid = grid.to(device=device, dtype=torch.float32)
        index = index.to(device)
        return index, grid[index], grid[index - 1]

    def consistency_terms(self, net, images, target, n, labels=None):
        index, sigma, sigma_prev = self.sample_sigmas(len(images), n, images.device, self.sigma_sampling)
        shape = (-1,) + (1,) * (images.ndim - 1)
        z = noise_like(images)
        with torch.no_grad():
            tgt = target(images + sigma_prev.view(shape) * z, sigma_prev, labels)
            if self.clip_target is not None:
                tgt = tgt.clamp(-self.clip_target, self.clip_target)
        out = net(images + sigma.view(shape) * z, sigma, labels)
        d = self.distance(out.float(), tgt.float())
        if self.weighting == 'ict':
            d = d / (sigma - sigma_prev)   # iCT: λ(σ_i) = 1/(σ_i − σ_{i−1})
        return d, out, index, sigma

    def __call__(self, net, images, target, n, labels=None):
        d, _, _, _ = self.consistency_terms(net, images, target, n, labels)
        self.stats = {'loss_consistency': d.mean().item()}
        return d

    def after_generator_step(self, net, images, n, step, labels=None):
        pass

    def state_dict(self):
        return {}

    def load_state_dict(self, state):
        pass


class ICTLoss(CTLoss):
    """iCT (ct-spec §9): the CT loss itself; its recipe (pseudo-Huber, lognormal σ, 1/Δσ weighting, μ0 = 0,
    the doubling curriculum) comes as train defaults of its traits, which the config resolves into run.train."""

    traits = ICT

#----------------------------------------------------------------------------

class ACTLoss(CTLoss):
    """ACT: (1 − λ)·consistency + λ·softplus(−D(A_p(f_θ(x_σ, σ)), σ)), plus the D step with lazy R1."""

    traits = ACT   # first half: generator step; second half: B/2 fake sources + B/2 reals
    lpips_variant = {'replace_pooling': False, 'resize_only_below': None}   # piq's VGG, always 224 (act-spec §2.3)

    def __init__(self, discriminator, d_optimizer, augment, controller, lambda_adv=0.3, w_mid=None,
                 r1_gamma=10.0, r1_interval=16, autocast=None, d_scaler=None, **ct_kwargs):
        super().__init__(**ct_kwargs)
        self.autocast = autocast or {'device_type': 'cpu', 'enabled': False}
        self.d_scaler = d_scaler or torch.amp.GradScaler('cpu', enabled=False)
        self.D = discriminator
        self.d_parameters = list(discriminator.parameters())
        self.d_optimizer = d_optimizer
        self.augment = augment
        self.controller = controller
        self.lambda_adv = lambda_adv
        self.w_mid = w_mid
        self.r1_gamma = r1_gamma
        self.r1_interval = r1_interval
        self.sdpa = False            # the 'sdpa' speed-up: SDPA in D except where R1 needs double backward
        self.d_sdpa = None           # whether D's attention runs SDPA now (None: as built)
        self.compiled_D = None       # the 'compile_d' speed-up: torch.compile of D, built once
        self.use_compiled_D = False

    def networks(self):
        return {'discriminator': self.D}

    def d_requires_grad(self, on):
        """D.requires_grad_(on) over a list of D's parameters made once (the module walk costs more here)."""
        for p in self.d_parameters:
            p.requires_grad_(on)

    def optimizers(self):
        return [self.d_optimizer]

    @property
    def r1_cadence(self):
        return self.r1_interval if self.r1_gamma > 0 else None

    def use_sdpa(self, on):
        """Switching off puts the classic attention processor back everywhere in D."""
        if self.sdpa and not on:
            self.set_d_attention(sdpa=False)
        self.sdpa = on

    def attend(self, double_backward):
        """With the 'sdpa' speed-up: SDPA in D, except for a coming double backward (R1)."""
        if self.sdpa:
            self.set_d_attention(sdpa=not double_backward)

    def compile_discriminator(self, on):
        """torch.compile of D for the iterations without R1 (compiled graphs have no double backward)."""
        if on and self.compiled_D is None:
            self.compiled_D = torch.compile(self.D)
        self.use_compiled_D = on

    def discriminator(self, double_backward):
        """D itself where R1 differentiates through it twice, else its compiled form when switched on."""
        return self.compiled_D if self.use_compiled_D and not double_backward else self.D

    def set_d_attention(self, sdpa):
        if sdpa != self.d_sdpa:
            set_attention(self.D, sdpa)
            self.d_sdpa = sdpa

    def weight(self, index, n):
        """Per-sample λ for the generator."""
        return adversarial_weight(index, n, self.lambda_adv, self.w_mid).to(index.device)

    def __call__(self, net, images, target, n, labels=None):
        d, out, index, sigma = self.consistency_terms(net, images, target, n, labels)
        self.attend(double_backward=False)
        self.d_requires_grad(False)
        try:
            g = F.softplus(-self.discriminator(False)(self.augment(out, self.controller.p), sigma, labels).float())
        finally:
            self.d_requires_grad(True)
        lam = self.weight(index, n)
        self.stats = {'loss_consistency': d.mean().item(), 'loss_adv': g.mean().item(),
                      'lambda': lam.mean().item()}
        return torch.lerp(d, g, lam)

    def discriminator_losses(self, net, images, n, with_r1, labels=None):
        """Per-sample D losses on B/2 fakes from the online net and B/2 augmented reals."""
        src, real = images.chunk(2)
        y_src, y_real = labels.chunk(2) if labels is not None else (None, None)
        p = self.controller.p
        shape = (-1,) + (1,) * (images.ndim - 1)
        i_f, sigma_f, _ = self.sample_sigmas(len(src), n, images.device)
        with torch.no_grad():
            fake = net(src + sigma_f.view(shape) * noise_like(src), sigma_f, y_src)
        fake = self.augment(fake, p).detach()
        i_r, sigma_r, _ = self.sample_sigmas(len(real), n, images.device)
        real = self.augment(real.detach().requires_grad_(with_r1), p)
        D = self.discriminator(double_backward=with_r1)
        logits_real = D(real, sigma_r, y_real)
        # D's per-sample weights: w(σ) = λ(σ)/λ_adv in the time-dependent form, 1 otherwise.
        w_f, w_r = self.weight(i_f, n) / self.lambda_adv, self.weight(i_r, n) / self.lambda_adv
        loss_fake = w_f * F.softplus(D(fake, sigma_f, y_src))
        loss_real = w_r * F.softplus(-logits_real)
        r1 = None
        if with_r1:
            grad, = torch.autograd.grad(logits_real.float().sum(), real, create_graph=True)
            r1 = self.r1_gamma / 2 * w_r * grad.float().square().flatten(1).sum(1)
        return loss_fake, loss_real, r1

    def after_generator_step(self, net, images, n, step, labels=None):
        with_r1 = self.r1_cadence is not None and step % self.r1_cadence == 0
        self.attend(double_backward=with_r1)
        with torch.autocast(**self.autocast):
            loss_fake, loss_real, r1 = self.discriminator_losses(net, images, n, with_r1, labels)
        loss_fake, loss_real = loss_fake.float(), loss_real.float()
        gan_loss = loss_fake.mean() + loss_real.mean()
        loss = gan_loss
        if r1 is not None:
            loss = loss + r1.mean()
            r1_mean = distributed.average(r1.mean()).item()   # the same p and R1 EMA on every rank
            self.controller.update(r1_mean)
            self.stats['r1'] = r1_mean
        self.d_optimizer.zero_grad(set_to_none=True)
        self.d_scaler.scale(self.lambda_adv * loss).backward()
        distributed.average_gradients(self.D)
        self.d_scaler.step(self.d_optimizer)
        self.d_scaler.update()
        self.stats.update(loss_d=gan_loss.item(), loss_d_fake=loss_fake.mean().item(),
                          loss_d_real=loss_real.mean().item(), aug_p=self.controller.p,
                          r1_ema=self.controller.r1_ema)

    def state_dict(self):
        return {'D': self.D.state_dict(), 'd_optimizer': self.d_optimizer.state_dict(),
                'd_scaler': self.d_scaler.state_dict(), 'controller': self.controller.state_dict()}

    def load_state_dict(self, state):
        self.D.load_state_dict(state['D'])
        self.d_optimizer.load_state_dict(state['d_optimizer'])
        if state['d_scaler']:
            self.d_scaler.load_state_dict(state['d_scaler'])
        self.controller.load_state_dict(state['controller'])
