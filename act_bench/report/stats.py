"""Intervals over seeds: a Student-t interval of a mean, of paired (same-seed) differences and of an
unpaired (Welch) difference. Each returns an Interval; with too few values to estimate a spread its
bounds are NaN (no interval)."""

import math
from dataclasses import dataclass

import numpy as np
from scipy import stats


@dataclass(frozen=True)
class Interval:
    mean: float
    lo: float
    hi: float
    n: int              # values (pairs, for a paired difference; the smaller sample, for Welch)

    @property
    def defined(self):
        return not (math.isnan(self.lo) or math.isnan(self.hi))


def _values(values):
    values = np.asarray(values, dtype=float)
    return values[~np.isnan(values)]


def _around(mean, se, dof, confidence):
    """mean ± t quantile × standard error (dof: degrees of freedom)."""
    if se == 0:
        return mean, mean
    half = stats.t.ppf((1 + confidence) / 2, dof) * se
    return mean - half, mean + half


def t_interval(values, confidence=0.95):
    """Mean of `values` (NaNs dropped) and its Student-t interval with n − 1 degrees of freedom."""
    values = _values(values)
    n = len(values)
    if n < 2:
        return Interval(float(values[0]) if n else math.nan, math.nan, math.nan, n)
    mean = float(values.mean())
    lo, hi = _around(mean, values.std(ddof=1) / math.sqrt(n), n - 1, confidence)
    return Interval(mean, float(lo), float(hi), n)


def paired_difference(a_by_seed, b_by_seed, confidence=0.95):
    """a − b over the seeds both have ({seed: value} mappings or Series indexed by seed): the mean of the
    per-seed differences and its t-interval."""
    a, b = dict(a_by_seed), dict(b_by_seed)
    seeds = sorted(s for s in set(a) & set(b) if not (math.isnan(a[s]) or math.isnan(b[s])))
    return t_interval([a[s] - b[s] for s in seeds], confidence)


def welch_dof(var_a, n_a, var_b, n_b):
    """Welch–Satterthwaite degrees of freedom of the difference of two means."""
    ua, ub = var_a / n_a, var_b / n_b
    return (ua + ub) ** 2 / (ua ** 2 / (n_a - 1) + ub ** 2 / (n_b - 1))


def welch_difference(a, b, confidence=0.95):
    """mean(a) − mean(b) of two unpaired samples and its Welch interval (unequal variances)."""
    a, b = _values(a), _values(b)
    n = min(len(a), len(b))
    mean = float(a.mean() - b.mean()) if n else math.nan
    if n < 2:
        return Interval(mean, math.nan, math.nan, n)
    var_a, var_b = a.var(ddof=1), b.var(ddof=1)
    se = math.sqrt(var_a / len(a) + var_b / len(b))
    dof = welch_dof(var_a, len(a), var_b, len(b)) if se else math.inf
    lo, hi = _around(mean, se, dof, confidence)
    return Interval(mean, float(lo), float(hi), n)


def errorbar(confidence=0.95):
    """A seaborn `errorbar=` callable: a vector of seeds' values → the (lo, hi) of its t-interval (the mean
    twice when there is no interval, so a single seed draws no band)."""
    def bounds(values):
        interval = t_interval(values, confidence)
        return (interval.lo, interval.hi) if interval.defined else (interval.mean, interval.mean)
    return bounds
