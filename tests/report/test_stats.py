"""Intervals over seeds against hand-computed values and scipy's own t-tests."""

import math

import pytest
from scipy import stats

from act_bench.report.stats import errorbar, paired_difference, t_interval, welch_difference, welch_dof


def test_t_interval_by_hand():
    interval = t_interval([1.0, 2.0, 3.0])   # mean 2, sd 1, se 1/√3, t(0.975, 2) = 4.302653
    assert interval.mean == 2.0 and interval.n == 3
    assert interval.lo == pytest.approx(2 - 4.302653 / math.sqrt(3), abs=1e-6)
    assert interval.hi == pytest.approx(2 + 4.302653 / math.sqrt(3), abs=1e-6)
    assert t_interval([1.0, 2.0, 3.0], confidence=0.9).hi == pytest.approx(2 + 2.919986 / math.sqrt(3), abs=1e-6)


def test_t_interval_of_one_value_or_none_has_no_bounds():
    one, none = t_interval([0.5, math.nan]), t_interval([])
    assert (one.mean, one.n, one.defined) == (0.5, 1, False)
    assert math.isnan(none.mean) and none.n == 0 and not none.defined
    assert t_interval([0.2, 0.2]).lo == t_interval([0.2, 0.2]).hi == 0.2   # no spread: a point


def test_paired_difference_uses_matched_seeds_only_and_agrees_with_ttest_rel():
    a = {0: 1.0, 1: 2.0, 2: 4.0, 3: 9.0}   # seed 3 has no partner
    b = {0: 0.5, 1: 1.0, 2: 3.5}
    interval = paired_difference(a, b)
    assert interval.n == 3 and interval.mean == pytest.approx((0.5 + 1.0 + 0.5) / 3)
    ci = stats.ttest_rel([1.0, 2.0, 4.0], [0.5, 1.0, 3.5]).confidence_interval(0.95)
    assert (interval.lo, interval.hi) == pytest.approx((ci.low, ci.high))


def test_welch_difference_by_hand_and_against_ttest_ind():
    a, b = [1.0, 2.0, 3.0], [2.0, 4.0, 6.0, 8.0]
    assert welch_dof(1.0, 3, 20 / 3, 4) == pytest.approx(4 / (1 / 18 + (5 / 3) ** 2 / 3))
    interval = welch_difference(a, b)
    assert interval.mean == pytest.approx(-3.0) and interval.n == 3
    ci = stats.ttest_ind(a, b, equal_var=False).confidence_interval(0.9)
    assert (welch_difference(a, b, 0.9).lo, welch_difference(a, b, 0.9).hi) == pytest.approx((ci.low, ci.high))
    assert not welch_difference([1.0], b).defined and welch_difference([1.0], b).mean == pytest.approx(-4.0)


def test_errorbar_callable_for_seaborn():
    lo, hi = errorbar()([1.0, 2.0, 3.0])
    assert (lo, hi) == pytest.approx((t_interval([1.0, 2.0, 3.0]).lo, t_interval([1.0, 2.0, 3.0]).hi))
    assert errorbar()([0.7]) == (0.7, 0.7)
