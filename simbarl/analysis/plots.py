"""Figures of sweep results: learning curves against the published ones, and aggregate intervals.

* ``learning_curves``: one panel per task; each system's mean over seeds with a
  95% bootstrap confidence band of that mean, and the published points
  (``simbarl/data/published_curves.csv``) as markers with a 95% interval from
  their reported std and seed count (mean +- 1.96 std / sqrt(n)). Markers, not a
  line: the published DMC curves have a point every 100k env steps only, and a
  line between two of them would show values nobody measured.
* ``aggregate_intervals``: the rliable-style plot: for each system, the mean,
  median, IQM and optimality gap of the normalized scores with their
  stratified-bootstrap intervals (``sweep.results.aggregate_table``).
"""

from __future__ import annotations

import math
from collections import defaultdict

import numpy as np

from simbarl.reference import published_curve

AGGREGATE_NAMES = {
    "mean": "Mean",
    "median": "Median",
    "iqm": "IQM",
    "optimality_gap": "Optimality gap",
}


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")  # files only: works without a display
    import matplotlib.pyplot as plt

    return plt


def curve_band(rows: list[dict], reps: int = 1000, seed: int = 0) -> tuple:
    """``(steps, mean, low, high)`` over seeds at each env step of one system on one task."""
    by_step: dict = defaultdict(list)
    for r in rows:
        by_step[r["env_step"]].append(r["value"])
    steps = np.array(sorted(by_step))
    rng = np.random.default_rng(seed)
    mean, low, high = [], [], []
    for s in steps:
        v = np.asarray(by_step[s], np.float64)
        boot = rng.choice(v, size=(reps, v.size)).mean(axis=1)
        mean.append(v.mean())
        lo, hi = np.percentile(boot, [2.5, 97.5])
        low.append(lo)
        high.append(hi)
    return steps, np.array(mean), np.array(low), np.array(high)


def step_label(x: float, _pos=None) -> str:
    """An env-step tick as people say it: 150000 -> 150k, 1000000 -> 1M."""
    for scale, suffix in ((1e6, "M"), (1e3, "k")):
        if abs(x) >= scale:
            return f"{x / scale:g}{suffix}"
    return f"{x:g}"


def published_points(ax, steps, mean, err, color, label: str) -> None:
    """Published evaluations as markers with error bars, no line between them."""
    bars = ax.errorbar(steps, mean, yerr=err, fmt="D", color=color, markersize=5,
                       elinewidth=1.2, capsize=3, label=label, zorder=3)  # fmt: skip
    bars.lines[0].set_label(label)  # the marker line carries the name, as a curve does


def learning_curves(rows: list[dict], published: tuple[str, ...] = ("simbaV2_utd2",), cols=4):
    """One panel per task; returns the matplotlib figure."""
    plt = _pyplot()
    tasks = sorted({r["task"] for r in rows})
    systems = sorted({r["system"] for r in rows})
    cols = min(cols, len(tasks))
    nrows = math.ceil(len(tasks) / cols)
    fig, axes = plt.subplots(nrows, cols, figsize=(4 * cols, 3 * nrows), squeeze=False)
    colors = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    for ax, task in zip(axes.flat, tasks, strict=False):
        metric = "avg_return"
        for i, system in enumerate(systems):
            mine = [r for r in rows if r["task"] == task and r["system"] == system]
            if not mine:
                continue
            metric = mine[0]["metric"]
            steps, mean, lo, hi = curve_band(mine)
            c = colors[i % len(colors)]
            ax.plot(steps, mean, color=c, label=system, marker="o", markersize=2.5)
            ax.fill_between(steps, lo, hi, color=c, alpha=0.2, linewidth=0)
        last = max(r["env_step"] for r in rows if r["task"] == task)
        for j, system in enumerate(published):
            curve = published_curve(task, system=system, metric=metric)
            steps = np.array(sorted(s for s in curve if s <= 1.05 * last))  # over our budget
            if not len(steps):
                continue
            m, sd, n = (np.array([curve[s][k] for s in steps]) for k in range(3))
            half = 1.96 * sd / np.sqrt(np.maximum(n, 1))
            c = colors[(len(systems) + j) % len(colors)]
            published_points(ax, steps, m, half, c, f"{system} (published)")
        ax.set_title(task, fontsize=10)
        ax.set_xlabel("env steps")
        ax.xaxis.set_major_formatter(step_label)
        ax.set_ylabel("success rate" if metric == "avg_success" else "return")
        ax.grid(alpha=0.3)
    for ax in list(axes.flat)[len(tasks) :]:
        ax.set_visible(False)
    handles, labels = {}, {}
    for ax in axes.flat:
        for h, label in zip(*ax.get_legend_handles_labels(), strict=True):
            handles.setdefault(label, h)
            labels.setdefault(label, label)
    fig.legend(list(handles.values()), list(labels), loc="lower center", ncol=4, frameon=False)
    fig.tight_layout(rect=(0, 0.06 if nrows > 1 else 0.12, 1, 1))
    return fig


def aggregate_intervals(aggregates: list[dict], group: str = "overall"):
    """Interval plot of the four aggregates per system for one group (rliable style)."""
    plt = _pyplot()
    chosen = [a for a in aggregates if a["group"] == group]
    if not chosen:  # a single-group sweep has no "overall" row
        group = aggregates[0]["group"]
        chosen = [a for a in aggregates if a["group"] == group]
    systems = [a["system"] for a in chosen]
    fig, axes = plt.subplots(1, 4, figsize=(14, 0.6 * len(systems) + 1.4), squeeze=False)
    colors = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    for ax, (key, name) in zip(axes[0], AGGREGATE_NAMES.items(), strict=True):
        for i, a in enumerate(chosen):
            v = a[key]
            ax.barh(
                i,
                v["ci_high"] - v["ci_low"],
                left=v["ci_low"],
                height=0.6,
                color=colors[i % len(colors)],
                alpha=0.75,
            )
            ax.plot([v["value"], v["value"]], [i - 0.3, i + 0.3], color="k", linewidth=1.5)
        lo = min(a[key]["ci_low"] for a in chosen)
        hi = max(a[key]["ci_high"] for a in chosen)
        pad = max(0.05 * (hi - lo), 0.02)
        ax.set_xlim(lo - pad, hi + pad)
        ax.set_yticks(range(len(systems)))
        ax.set_yticklabels(systems if key == "mean" else [])
        ax.set_title(name)
        ax.set_xlabel("normalized score")
        ax.grid(axis="x", alpha=0.3)
    fig.suptitle(
        f"{group}: {chosen[0]['tasks']} tasks, {chosen[0]['runs']} runs per task "
        "(95% stratified-bootstrap CIs)",
        fontsize=10,
    )
    fig.tight_layout()
    return fig


def save(fig, stem, formats=("png", "svg")) -> list[str]:
    paths = []
    for fmt in formats:
        path = f"{stem}.{fmt}"
        fig.savefig(path, dpi=120)
        paths.append(path)
    _pyplot().close(fig)
    return paths
