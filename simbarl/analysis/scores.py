"""Aggregate normalized scores with stratified-bootstrap confidence intervals.

The method of rliable (Agarwal et al. 2021, "Deep RL at the Edge of the
Statistical Precipice"), written here in numpy so it needs no extra package.
Scores are a ``(runs, tasks)`` array of normalized scores (one run = one seed).

* mean: mean over tasks of the per-task mean over runs;
* median: median over tasks of the per-task mean over runs;
* IQM: mean of the middle 50% of all ``runs x tasks`` scores (25% trimmed from
  each end, as ``scipy.stats.trim_mean(x, 0.25)`` cuts ``int(0.25 n)``);
* optimality gap: ``1 - mean(min(score, 1))``, how far below the target the
  runs fall on average (lower is better).

Confidence intervals come from the stratified bootstrap: in each of ``reps``
resamples, every task's runs are drawn with replacement from that task's own
runs, the aggregate is recomputed, and the interval is the percentile range.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np


def mean(scores: np.ndarray) -> float:
    return float(np.mean(np.mean(scores, axis=0)))


def median(scores: np.ndarray) -> float:
    return float(np.median(np.mean(scores, axis=0)))


def iqm(scores: np.ndarray) -> float:
    flat = np.sort(np.asarray(scores, np.float64).ravel())
    cut = int(0.25 * flat.size)
    return float(np.mean(flat[cut : flat.size - cut]))


def optimality_gap(scores: np.ndarray, gamma: float = 1.0) -> float:
    return float(gamma - np.mean(np.minimum(scores, gamma)))


AGGREGATES: dict[str, Callable[[np.ndarray], float]] = {
    "mean": mean,
    "median": median,
    "iqm": iqm,
    "optimality_gap": optimality_gap,
}


def stratified_bootstrap(
    scores: np.ndarray,
    fn: Callable[[np.ndarray], float],
    reps: int = 2000,
    confidence: float = 0.95,
    seed: int = 0,
) -> tuple[float, float]:
    """Percentile interval of ``fn`` over resamples of runs drawn within each task."""
    scores = np.asarray(scores, np.float64)
    if scores.ndim != 2 or scores.shape[0] < 1:
        raise ValueError(f"scores must be (runs, tasks), got shape {scores.shape}")
    runs, tasks = scores.shape
    rng = np.random.default_rng(seed)
    stats = np.empty(reps)
    cols = np.arange(tasks)[None, :]
    for i in range(reps):
        rows = rng.integers(0, runs, size=(runs, tasks))  # per task, its own draw
        stats[i] = fn(scores[rows, cols])
    tail = (1.0 - confidence) / 2 * 100
    lo, hi = np.percentile(stats, [tail, 100 - tail])
    return float(lo), float(hi)


def summarize(scores: np.ndarray, reps: int = 2000, seed: int = 0) -> dict:
    """``{aggregate: {"value", "ci_low", "ci_high"}}`` for the four aggregates."""
    out = {}
    for name, fn in AGGREGATES.items():
        lo, hi = stratified_bootstrap(scores, fn, reps=reps, seed=seed)
        out[name] = {"value": fn(scores), "ci_low": lo, "ci_high": hi}
    return out
