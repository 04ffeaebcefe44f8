"""``simbarl analyze``: the SimbaV2 paper's training-dynamics figure (Fig. 4) from run directories.

Reads the ``dynamics/...`` rows that ``--analyze-every`` writes into each run's
``metrics.jsonl`` (``train/probe.py``) and the evaluation returns, groups runs
by label (their preset, algorithm when not SAC, the fields they change and task,
``config.run_label``; or ``--labels``)
and draws, for the critic and the actor, one panel per quantity: return,
feature norm, parameter norm, gradient norm, effective learning rate, optimizer
step size, dormant ratio and feature rank, each as the mean over a group's
seeds with a 95% bootstrap band (``plots.curve_band``).
"""

from __future__ import annotations

import argparse
import csv
import json
import sys
from collections import defaultdict
from pathlib import Path

from simbarl.analysis import plots
from simbarl.config import run_label
from simbarl.runs.metrics import read_metrics

# (panel title, metric under dynamics/<network>/, or the evaluation return)
PANELS = (
    ("return", "eval/return"),
    ("feature norm (sum over layers)", "feature_norm/total"),
    ("parameter norm (count-weighted)", "param_norm/total"),
    ("gradient norm (count-weighted)", "grad_norm/total"),
    ("effective LR ||g||/||W||", "elr/total"),
    ("optimizer step ||dW||/||W||", "step/total"),
    ("dormant ratio (tau 0.1)", "dormant/tau0.1/total"),
    ("feature rank (srank)", "rank/srank"),
)
NETWORKS = ("critic", "actor")


class AnalyzeError(ValueError):
    """A run that cannot be analyzed, with what to do about it."""


def seed_runs(run_dir: Path) -> list[Path]:
    """The single-seed run directories of ``run_dir`` (a ``--vmap-seeds`` group's seeds)."""
    config = run_dir / "config.json"
    if not config.is_file():
        raise AnalyzeError(f"{run_dir} is not a simbarl run directory (no config.json)")
    if json.loads(config.read_text()).get("vmap_seeds", 1) > 1:
        return sorted(p.parent for p in run_dir.glob("seed*/config.json"))
    return [run_dir]


def default_label(run_dir: Path) -> str:
    """The run's preset, algorithm and the fields it changes, and its task
    (``simbav2-small agent.critic.width=32 on dmc:cheetah-run``)."""
    cfg = json.loads((run_dir / "config.json").read_text())
    return f"{run_label(cfg)} on {cfg.get('env', '?')}"


def load_series(run_dir: Path, label: str) -> list[dict]:
    """Long rows ``label, run, network, metric, env_step, value`` of one seed's run."""
    rows = read_metrics(run_dir) if (run_dir / "metrics.jsonl").is_file() else []
    out, has_dynamics = [], False
    for r in rows:
        step = r.get("env_step")
        if "eval/return" in r:
            out.append(_row(label, run_dir, "eval", "eval/return", step, r["eval/return"]))
        for key, value in r.items():
            if key.startswith("dynamics/"):
                has_dynamics = True
                _, network, metric = key.split("/", 2)
                out.append(_row(label, run_dir, network, metric, step, value))
    if not has_dynamics:
        raise AnalyzeError(
            f"{run_dir} has no training-dynamics rows (dynamics/...) in metrics.jsonl: it was "
            "trained with --analyze-every 0 or for fewer env steps than --analyze-every. "
            "Train it with --analyze-every N (default 10000) to analyze it."
        )
    return out


def _row(label, run_dir, network, metric, step, value) -> dict:
    return {
        "label": label,
        "run": str(run_dir),
        "network": network,
        "metric": metric,
        "env_step": int(step),
        "value": float(value),
    }


def collect(runs: list[str], labels: list[str] | None = None) -> list[dict]:
    """Long rows of every seed of every run; ``labels``: one per run, else each run's own."""
    if labels is not None and len(labels) != len(runs):
        raise AnalyzeError(f"--labels needs one label per run ({len(runs)}), got {len(labels)}")
    rows = []
    for i, run in enumerate(runs):
        for seed_dir in seed_runs(Path(run)):
            rows += load_series(seed_dir, labels[i] if labels else default_label(seed_dir))
    return rows


def series(rows: list[dict]) -> list[dict]:
    """The plotted series: mean and 95% bootstrap band over seeds per label, network, metric."""
    groups: dict = defaultdict(list)
    for r in rows:
        groups[(r["label"], r["network"], r["metric"])].append(r)
    out = []
    for (label, network, metric), group in sorted(groups.items()):
        steps, mean, low, high = plots.curve_band(group)
        seeds = len({r["run"] for r in group})
        for s, m, lo, hi in zip(steps, mean, low, high, strict=True):
            out.append(
                {
                    "label": label,
                    "network": network,
                    "metric": metric,
                    "env_step": int(s),
                    "mean": float(m),
                    "low": float(lo),
                    "high": float(hi),
                    "seeds": seeds,
                }
            )
    return out


def figure(plotted: list[dict]):
    """The figure: a row per network (critic, actor), a column per panel."""
    plt = plots._pyplot()
    cols = len(PANELS)
    fig, axes = plt.subplots(2, cols, figsize=(3.1 * cols, 5.6), squeeze=False)
    colors = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    labels = sorted({r["label"] for r in plotted})
    for i, network in enumerate(NETWORKS):
        for j, (title, metric) in enumerate(PANELS):
            ax = axes[i, j]
            if metric == "eval/return" and i > 0:
                ax.set_visible(False)  # one return panel for both rows
                continue
            net = "eval" if metric == "eval/return" else network
            for c, label in enumerate(labels):
                line = [
                    r
                    for r in plotted
                    if (r["label"], r["network"], r["metric"]) == (label, net, metric)
                ]
                if not line:
                    continue
                x = [r["env_step"] for r in line]
                color = colors[c % len(colors)]
                ax.plot(x, [r["mean"] for r in line], color=color, label=label, marker="o", ms=2)
                low, high = [r["low"] for r in line], [r["high"] for r in line]
                ax.fill_between(x, low, high, color=color, alpha=0.2, linewidth=0)
            ax.set_title(title if metric == "eval/return" else f"{network}: {title}", fontsize=9)
            ax.set_xlabel("env steps", fontsize=8)
            ax.xaxis.set_major_formatter(plots.step_label)
            ax.tick_params(labelsize=7)
            ax.grid(alpha=0.3)
    handles, names = axes[0, 0].get_legend_handles_labels()
    if not handles:
        handles, names = axes[0, 1].get_legend_handles_labels()
    fig.legend(handles, names, loc="lower center", ncol=min(len(names), 4), frameon=False)
    fig.tight_layout(rect=(0, 0.08, 1, 1))
    return fig


def write_csv(plotted: list[dict], path: Path) -> None:
    with open(path, "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(plotted[0]))
        writer.writeheader()
        writer.writerows(plotted)


def analyze_cli(argv: list[str]) -> int:
    p = argparse.ArgumentParser(
        prog="simbarl analyze",
        description="The training-dynamics figure (SimbaV2 paper, Fig. 4) of runs trained with "
        "--analyze-every: return, feature/parameter/gradient norms, effective learning rate, "
        "optimizer step, dormant ratio and feature rank of the critic and the actor. Runs with "
        "the same label (preset, algorithm, changed fields, task) are seeds of one config: "
        "mean and 95%% bootstrap band. A --vmap-seeds run directory counts as all of its seeds.",
    )
    p.add_argument("runs", nargs="+", help="run directories written by simbarl train")
    p.add_argument("--out", required=True, help="folder for dynamics.png/.svg (and .csv)")
    p.add_argument(
        "--labels",
        nargs="+",
        default=None,
        help="one label per run (default: preset and changed fields)",
    )
    p.add_argument("--csv", action="store_true", help="also write the plotted series as CSV")
    p.add_argument("--name", default="dynamics", help="file name stem (default dynamics)")
    args = p.parse_args(argv)
    try:
        rows = collect(args.runs, args.labels)
    except (AnalyzeError, OSError, json.JSONDecodeError) as e:
        print(f"simbarl analyze: error: {e}", file=sys.stderr)
        return 2
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    plotted = series(rows)
    paths = plots.save(figure(plotted), out / args.name)
    if args.csv:
        write_csv(plotted, out / f"{args.name}.csv")
        paths.append(str(out / f"{args.name}.csv"))
    print("\n".join(paths))
    return 0
