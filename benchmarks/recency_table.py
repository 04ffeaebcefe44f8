"""Summarize benchmarks/recency_replay.sh's finished runs into OUT/recency_replay.json.

    python benchmarks/recency_table.py [benchmarks/results/recency_replay]

Reads the run directories (``OUT/<task>/<setting>/seed<N>/``: ``config.json`` and
``metrics.jsonl``), not the sweep's results.csv, so the table can be written while
runs are still missing: a run counts once its metrics hold the evaluation at its
final step, and each setting lists the seeds it has. The benchmark can be finished
across sessions on different machines: a run already in the previous
``recency_replay.json`` keeps the machine recorded then, a new run gets this one.

Per task and setting: ``replay.recency_decay_steps``, and per seed the evaluation
returns, the training wall clock (the sum of the logged intervals, so an
interruption's downtime is not counted) and the median updates/s; then the mean and
std over seeds at each evaluation step (std over seeds, ddof 0, as ``simbarl
scores``), and the published SimbaV2 mean and std at the final step.
"""

from __future__ import annotations

import json
import os
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from throughput import cpu_name  # noqa: E402

from simbarl.reference import published_curve  # noqa: E402
from simbarl.runs.metrics import read_metrics, training_seconds  # noqa: E402
from simbarl.tune.objective import eval_returns  # noqa: E402

NAME = "recency_replay.json"
# what benchmarks/recency_replay.sh runs: the table says which of these are still missing
PLAN = {
    "tasks": ["dmc:cartpole-swingup", "dmc:cheetah-run"],
    "settings": {"uniform": 0, "decay80k": 80000, "decay20k": 20000},
    "seeds": [0, 1, 2],
}


def _run(run_dir: Path) -> dict | None:
    """One finished run's figures; None while it has not reached its final step."""
    config = json.loads((run_dir / "config.json").read_text())
    rows = read_metrics(run_dir)
    evals = dict(eval_returns(rows))
    if config["steps"] not in evals:
        return None
    train = [r for r in rows if "perf/env_steps_per_s" in r]
    return {
        "seed": config["seed"],
        "env": config["env"],
        "steps": config["steps"],
        "recency_decay_steps": config["replay"]["recency_decay_steps"],
        "recency_min_weight": config["replay"]["recency_min_weight"],
        "evaluations": {str(s): v for s, v in sorted(evals.items())},
        "final": evals[config["steps"]],
        "train_seconds": round(training_seconds(rows), 1),
        "updates_per_s": statistics.median(r["perf/updates_per_s"] for r in train[1:] or train),
    }


def _mean_std(xs: list[float]) -> dict:
    return {"mean": statistics.fmean(xs), "std": statistics.pstdev(xs), "n": len(xs)}


def summarize(out: Path, previous: dict | None = None) -> dict:
    """The table of every finished run under ``out`` (see the module docstring)."""
    machine = cpu_name()
    known = {
        (s["task"], s["setting"], r["seed"]): r.get("machine")
        for s in (previous or {}).get("settings", [])
        for r in s["runs"]
    }
    settings = []
    for setting_dir in sorted(p for p in out.glob("*/*") if p.is_dir() and p.parent.name != "logs"):
        runs = []
        for run_dir in sorted(setting_dir.glob("seed*")):
            if (run_dir / "config.json").is_file() and (run := _run(run_dir)) is not None:
                runs.append(run)
        if not runs:
            continue
        task, setting = runs[0]["env"], setting_dir.name
        for r in runs:
            r["machine"] = known.get((task, setting, r["seed"])) or machine
        steps = runs[0]["steps"]
        at = sorted({int(s) for r in runs for s in r["evaluations"]})
        published = published_curve(task).get(steps)
        settings.append(
            {
                "task": task,
                "setting": setting,
                "recency_decay_steps": runs[0]["recency_decay_steps"],
                "recency_min_weight": runs[0]["recency_min_weight"],
                "steps": steps,
                "seeds": [r["seed"] for r in runs],
                "curve": {
                    str(s): _mean_std(
                        [r["evaluations"][str(s)] for r in runs if str(s) in r["evaluations"]]
                    )
                    for s in at
                },
                "final": _mean_std([r["final"] for r in runs]),
                "train_seconds": _mean_std([r["train_seconds"] for r in runs]),
                "updates_per_s": _mean_std([r["updates_per_s"] for r in runs]),
                "published": None
                if published is None
                else {"mean": published[0], "std": published[1]},
                "runs": runs,
            }
        )
    import jax

    return {
        "meta": {
            "machine": machine,
            "cpu_count": os.cpu_count(),
            "jax": jax.__version__,
            "date": time.strftime("%Y-%m-%d"),
            "machines": sorted({r["machine"] for s in settings for r in s["runs"]}),
        },
        "plan": PLAN,
        "settings": settings,
    }


def main(out: Path) -> dict:
    path = out / NAME
    previous = json.loads(path.read_text()) if path.is_file() else None
    result = summarize(out, previous)
    path.write_text(json.dumps(result, indent=1) + "\n")
    for s in result["settings"]:
        f, pub = s["final"], s["published"]
        ref = f"  published {pub['mean']:.1f} +- {pub['std']:.1f}" if pub else ""
        print(
            f"{s['task']:24s} {s['setting']:10s} {f['n']} seeds"
            f"  {f['mean']:7.1f} +- {f['std']:6.1f}"
            f"  {s['train_seconds']['mean'] / 60:5.1f} min/run{ref}"
        )
    print(f"wrote {path}")
    return result


if __name__ == "__main__":
    main(Path(sys.argv[1] if len(sys.argv) > 1 else "benchmarks/results/recency_replay"))
