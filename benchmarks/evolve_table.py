"""The table of benchmarks/evolve.sh: per task and arm, the best and mean final
evaluation return, the env steps spent and the wall clock, and each arm's curve of
the best return against the env steps the whole arm had spent by then.

    python benchmarks/evolve_table.py OUT --json OUT/evolve.json

The JSON holds, per task, the arms and the meta (machine, cores, date) of the run
that measured them; a task already in the file and not under OUT keeps its entry,
so tasks run on different days add up.

Arms (directories under OUT/<task>/): ``evolve`` (a simbarl evolve run: the
final generation's fitness, the mean of its deterministic episodes, per member),
``independent`` (a simbarl sweep: each run's last evaluation) and ``tune`` (a
simbarl tune study: each trial's last evaluation; pruned trials count with the
steps they spent). An arm that is missing is left out.

The curves (``curve``: ``[total env steps, best return]`` pairs): ``evolve``, the
fittest member of each generation; ``independent``, at each evaluation the best
run, with every run's steps so far counted; ``tune``, the best final return of
the trials finished so far (trials in order, their steps added up).
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import time
from pathlib import Path

from throughput import cpu_name  # benchmarks/throughput.py, beside this script

from simbarl.evolve.lineage import read_rows
from simbarl.runs.metrics import read_metrics


def _wall_clock(arm: Path) -> float | None:
    path = arm / "wall_clock_s.txt"
    if not path.is_file():
        return None
    return float(sum(float(x) for x in path.read_text().split()))


def evolve_arm(arm: Path) -> dict:
    generations: dict[int, list[dict]] = {}
    for r in read_rows(arm):
        generations.setdefault(r["generation"], []).append(r)
    best, curve = [], []
    for g in sorted(generations):
        fitness = [r["fitness"] for r in generations[g] if r["fitness"] is not None]
        best.append(max(fitness, default=None))
        if fitness:
            curve.append([max(r["total_env_steps"] for r in generations[g]), max(fitness)])
    last = max(generations)
    return {
        "final": [r["fitness"] for r in generations[last] if r["fitness"] is not None],
        "env_steps": max(r["total_env_steps"] for r in generations[last]),
        "generations": last,
        "members": len(generations[last]),
        "best_per_generation": best,
        "curve": curve,
    }


def independent_arm(arm: Path) -> dict:
    by_step: dict[int, dict[str, float]] = {}
    with open(arm / "results.csv") as f:
        for r in csv.DictReader(f):
            if r["metric"] == "avg_return":
                by_step.setdefault(int(r["env_step"]), {})[r["seed"]] = float(r["value"])
    last: dict[str, tuple[int, float]] = {}
    for step, values in sorted(by_step.items()):
        last.update({seed: (step, v) for seed, v in values.items()})
    runs = len(last)
    curve = [
        [step * runs, max(v.values())] for step, v in sorted(by_step.items()) if len(v) == runs
    ]
    return {
        "final": [v for _, v in last.values()],
        "env_steps": sum(s for s, _ in last.values()),
        "curve": curve,
    }


def tune_arm(arm: Path) -> dict:
    final, steps, curve = [], 0, []
    trials = [p for p in (arm / "trials").iterdir() if p.name.isdigit()]
    for trial in sorted(trials, key=lambda p: int(p.name)):
        evals = [r for r in read_metrics(trial) if "eval/return" in r]
        if evals:
            final.append(float(evals[-1]["eval/return"]))
            steps += int(evals[-1]["env_step"])
            curve.append([steps, max(final)])
    return {"final": final, "env_steps": steps, "curve": curve}


ARMS = {"evolve": evolve_arm, "independent": independent_arm, "tune": tune_arm}


def table(out: Path) -> dict:
    tasks = {}
    for task_dir in sorted(p for p in out.iterdir() if p.is_dir()):
        arms = {}
        for name, read in ARMS.items():
            arm = task_dir / name
            try:
                result = read(arm)
            except (OSError, ValueError, KeyError):
                continue  # not run (yet)
            if not result["final"]:
                continue
            result["best"] = max(result["final"])
            result["mean"] = sum(result["final"]) / len(result["final"])
            result["wall_clock_s"] = _wall_clock(arm)
            arms[name] = result
        if arms:
            tasks[task_dir.name] = arms
    return tasks


def merge(path: Path, tasks: dict) -> dict:
    """``tasks`` over the tasks already in ``path``: a task measured on another day (or
    machine, whose run directories are gone) keeps its row and its own meta."""
    kept = json.loads(path.read_text())["tasks"] if path.is_file() else {}
    return {**kept, **tasks}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("out", type=Path, help="benchmarks/evolve.sh's OUT directory")
    p.add_argument("--json", type=Path, default=None, help="also write the table here")
    args = p.parse_args()
    tasks = table(args.out)
    if not tasks:
        raise SystemExit(f"no finished arm under {args.out}")
    print(f"{'task':24} {'arm':12} {'best':>9} {'mean':>9} {'env steps':>11} {'wall clock':>11}")
    for task, arms in tasks.items():
        for name, a in arms.items():
            wall = f"{a['wall_clock_s'] / 60:.0f} min" if a["wall_clock_s"] else "n/a"
            row = f"{task:24} {name:12} {a['best']:9.1f} {a['mean']:9.1f}"
            print(f"{row} {a['env_steps']:11,} {wall:>11}")
    if args.json:
        meta = {
            "machine": cpu_name(),
            "cpus": os.cpu_count(),
            "date": time.strftime("%F"),
        }
        measured = {task: {"meta": meta, "arms": arms} for task, arms in tasks.items()}
        merged = merge(args.json, measured)
        args.json.write_text(json.dumps({"tasks": merged}, indent=1) + "\n")
        print(f"wrote {args.json}")


if __name__ == "__main__":
    main()
