"""The README's and the home page's figure: the mini suite against the published SimbaV2.

Drawn from committed result files only:

* ``mini_suite/results.csv``: ``simbav2-small``, 3 seeds, a 100k-step budget (the
  learning rate decays to its end by 100k);
* the same preset on the published 1M-step schedule, read at 100k, where it was run:
  ``mini_suite_1m/results.csv`` and ``width/small-budget1m/curves.json``;
* the published SimbaV2 (full size, UTD 2, 1M-step runs): its points in
  ``simbarl/data/published_curves.csv``, which for DMC are every 100k env steps, so
  at most 0 and 100k here. They are drawn as markers, never joined by a line.

Every series is mean ± std over its seeds. The caption under the panels says what
is compared, with the machine and the commit dates of the result files.

    python benchmarks/headline_figure.py     # writes benchmarks/results/headline.{png,svg}
"""

from __future__ import annotations

import json
import statistics
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results"
SHORT = RESULTS / "mini_suite" / "results.csv"
LONG = (RESULTS / "mini_suite_1m" / "results.csv", RESULTS / "width/small-budget1m/curves.json")
MACHINE = "a 2-core x86_64 CPU, no GPU"
END = 100_000


def _avg_returns_csv(path: Path) -> dict[str, dict[int, list[float]]]:
    from simbarl.sweep.results import read_csv

    out: dict[str, dict[int, list[float]]] = {}
    for r in read_csv(path):
        if r["metric"] == "avg_return":
            out.setdefault(r["task"], {}).setdefault(int(r["env_step"]), []).append(r["value"])
    return out


def _avg_returns_curves(path: Path) -> dict[str, dict[int, list[float]]]:
    out: dict[str, dict[int, list[float]]] = {}
    for task, algos in json.loads(path.read_text())["tasks"].items():
        for curve in algos["sac"]["per_seed"].values():
            for step, value in curve:
                out.setdefault(task, {}).setdefault(int(step), []).append(value)
    return out


def committed(path: Path) -> str:
    """The date of the last commit of ``path`` (``YYYY-MM-DD``), or "" outside git."""
    try:
        done = subprocess.run(["git", "log", "-1", "--format=%cs", "--", str(path)],
                              cwd=ROOT, capture_output=True, text=True, check=True)  # fmt: skip
    except (OSError, subprocess.CalledProcessError):
        return ""
    return done.stdout.strip()


def load() -> dict:
    """``{"short": task -> step -> values, "long": ..., "sources": [paths]}``."""
    short = _avg_returns_csv(SHORT)
    long: dict[str, dict[int, list[float]]] = {}
    csv_1m, walker_1m = LONG
    long.update(_avg_returns_curves(walker_1m))
    long.update(_avg_returns_csv(csv_1m))
    return {"short": short, "long": long, "sources": [SHORT, *LONG]}


def _mean_std(by_step: dict[int, list[float]]) -> tuple[list, list, list, int]:
    steps = sorted(s for s in by_step if s <= END)
    means = [statistics.fmean(by_step[s]) for s in steps]
    stds = [statistics.pstdev(by_step[s]) for s in steps]
    return steps, means, stds, min(len(by_step[s]) for s in steps)


def caption(data: dict) -> str:
    dates = sorted(d for d in (committed(p) for p in data["sources"]) if d)
    when = f"committed {dates[0]} to {dates[-1]}" if dates else "not committed yet"
    seeds = {len(v) for by_step in data["short"].values() for v in by_step.values()}
    return (
        f"simbarl: simbav2-small (critic 128, actor 64, UTD 2), {'/'.join(map(str, seeds))} seeds "
        f"per task, on {MACHINE}; {when}. Solid: a 100k-step budget. Dotted: the published "
        "1M-step schedule, read at 100k (run on 3 of the 5 tasks).\n"
        "Published SimbaV2: full size (critic 512, actor 128), UTD 2, 10 seeds, 1M-step "
        "runs; its DMC points are every 100k env steps. All: mean ± std over seeds."
    )


def draw(data: dict):
    """One panel per task: ours on both budgets, the published points as markers."""
    from simbarl.analysis import plots
    from simbarl.reference import published_curve

    plt = plots._pyplot()
    tasks = sorted(data["short"])
    fig, axes = plt.subplots(1, len(tasks), figsize=(3.3 * len(tasks), 3.4), squeeze=False)
    colors = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    series = (("short", "ours, 100k budget", "-"), ("long", "ours, 1M schedule read at 100k", ":"))
    for ax, task in zip(axes[0], tasks, strict=True):
        for i, (key, label, style) in enumerate(series):
            if task not in data[key]:
                continue
            steps, m, sd, _ = _mean_std(data[key][task])
            lo = [a - b for a, b in zip(m, sd, strict=True)]
            hi = [a + b for a, b in zip(m, sd, strict=True)]
            ax.plot(steps, m, style, color=colors[i], marker="o", markersize=3, label=label)
            ax.fill_between(steps, lo, hi, color=colors[i], alpha=0.15, linewidth=0)
        curve = published_curve(task)
        points = sorted(s for s in curve if s <= END)
        plots.published_points(
            ax, points, [curve[s][0] for s in points], [curve[s][1] for s in points],
            colors[3], "published SimbaV2 (mean ± std)",
        )  # fmt: skip
        ax.set_title(task.removeprefix("dmc:"), fontsize=10)
        ax.set_xlabel("env steps")
        ax.xaxis.set_major_formatter(plots.step_label)
        ax.set_xlim(-5_000, END + 5_000)
        ax.grid(alpha=0.3)
    axes[0][0].set_ylabel("return")
    handles: dict = {}
    for ax in axes.flat:
        for h, label in zip(*ax.get_legend_handles_labels(), strict=True):
            handles.setdefault(label, h)
    order = sorted(handles, key=lambda label: label.startswith("published"))
    fig.legend([handles[k] for k in order], order, loc="upper center", ncol=3, frameon=False)
    fig.text(0.5, 0.01, caption(data), ha="center", va="bottom", fontsize=8, wrap=True)
    fig.tight_layout(rect=(0, 0.14, 1, 0.92))
    return fig


def main() -> int:
    from simbarl.analysis import plots

    paths = plots.save(draw(load()), str(RESULTS / "headline"))
    print("\n".join(paths))
    return 0


if __name__ == "__main__":
    sys.path.insert(0, str(ROOT))
    sys.exit(main())
