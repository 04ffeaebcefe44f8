"""Aggregate scores and stratified bootstrap intervals against their definitions."""

import numpy as np
import pytest

from simbarl.analysis import scores


def test_aggregates_by_hand():
    s = np.array([[0.0, 0.5, 1.2], [0.2, 0.7, 0.8]])  # 2 runs x 3 tasks
    assert scores.mean(s) == pytest.approx(np.mean([0.1, 0.6, 1.0]))
    assert scores.median(s) == pytest.approx(0.6)
    # 6 values sorted 0, .2, .5, .7, .8, 1.2; int(1.5) = 1 cut from each end
    assert scores.iqm(s) == pytest.approx(np.mean([0.2, 0.5, 0.7, 0.8]))
    # min(s, 1) = 0, .5, 1, .2, .7, .8 -> mean 3.2 / 6
    assert scores.optimality_gap(s) == pytest.approx(1 - 3.2 / 6)


def test_iqm_matches_scipy_trim_mean_rule():
    rng = np.random.default_rng(0)
    for n in (4, 7, 10, 33):
        x = rng.normal(size=(n, 1))
        flat = np.sort(x.ravel())
        k = int(0.25 * n)
        assert scores.iqm(x) == pytest.approx(flat[k : n - k].mean())


def test_bootstrap_is_stratified_and_reproducible():
    # task 0 is constant across runs, so any within-task resample keeps its mean;
    # task 1 varies. A stratified bootstrap of task 0's mean alone is degenerate.
    s = np.array([[0.5, 0.0], [0.5, 1.0], [0.5, 0.2], [0.5, 0.9]])
    lo, hi = scores.stratified_bootstrap(s[:, :1], scores.mean, reps=200)
    assert lo == hi == 0.5
    lo, hi = scores.stratified_bootstrap(s, scores.mean, reps=500, seed=3)
    assert lo < scores.mean(s) < hi
    assert (lo, hi) == scores.stratified_bootstrap(s, scores.mean, reps=500, seed=3)


def test_intervals_shrink_with_more_runs():
    rng = np.random.default_rng(1)
    few = rng.uniform(0, 1, size=(3, 10))
    many = rng.uniform(0, 1, size=(30, 10))
    width = lambda x: np.subtract(*scores.stratified_bootstrap(x, scores.iqm, reps=400)[::-1])
    assert width(many) < 0.6 * width(few)


def test_summarize_and_bad_shape():
    out = scores.summarize(np.full((3, 4), 0.7), reps=50)
    assert set(out) == {"mean", "median", "iqm", "optimality_gap"}
    assert out["iqm"] == {
        "value": pytest.approx(0.7),
        "ci_low": pytest.approx(0.7),
        "ci_high": pytest.approx(0.7),
    }
    with pytest.raises(ValueError, match="runs, tasks"):
        scores.stratified_bootstrap(np.ones(5), scores.mean)
