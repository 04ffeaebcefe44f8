"""Sweep results: one CSV in the published layout, and per-task / per-suite score tables.

The CSV has a row per evaluation: ``system, task, metric, env_step, value, seed``
(``system`` is the config's label, ``metric`` ``avg_return`` or ``avg_success``).
Tables take each run's evaluation at a chosen env step (default: its last),
normalize it where the task is one of the 57 (``simbarl tasks``) and aggregate
per group and overall with stratified-bootstrap intervals (``analysis.scores``).
"""

from __future__ import annotations

import csv
from collections import defaultdict
from pathlib import Path

import numpy as np

from simbarl.analysis.scores import summarize
from simbarl.envs.benchmark_tasks import BY_ID, GROUPS
from simbarl.files import atomic_open
from simbarl.reference import published_curve

FIELDS = ("system", "task", "metric", "env_step", "value", "seed")


def write_csv(path: str | Path, rows: list[dict]) -> None:
    """Write rows in the published layout; atomic, so a reader never sees half a file."""
    rows = sorted(rows, key=lambda r: (r["system"], r["task"], r["seed"], r["env_step"]))
    with atomic_open(path, "w", newline="") as f:
        w = csv.DictWriter(f, FIELDS)
        w.writeheader()
        w.writerows({k: r[k] for k in FIELDS} for r in rows)


def read_csv(path: str | Path) -> list[dict]:
    with open(path, newline="") as f:
        rows = list(csv.DictReader(f))
    missing = set(FIELDS) - set(rows[0] if rows else FIELDS)
    if missing:
        raise ValueError(f"{path} lacks the columns {sorted(missing)} of a sweep CSV")
    return [
        {
            **r,
            "env_step": int(float(r["env_step"])),
            "value": float(r["value"]),
            "seed": int(r["seed"]),
        }
        for r in rows
    ]


def final_values(rows: list[dict], step: int | None = None) -> dict:
    """``{(system, task): {seed: value}}``: each run's evaluation at ``step`` (the last
    one at or below it), or its last evaluation when ``step`` is None."""
    runs: dict = defaultdict(list)
    for r in rows:
        if step is None or r["env_step"] <= step:
            runs[(r["system"], r["task"], r["seed"])].append((r["env_step"], r["value"]))
    out: dict = defaultdict(dict)
    for (system, task, seed), evals in runs.items():
        out[(system, task)][seed] = max(evals)[1]
    return dict(out)


def _published_at(task: str, step: int) -> float | None:
    metric = "avg_success" if task in BY_ID and BY_ID[task].metric == "success" else "avg_return"
    curve = published_curve(task, metric=metric)
    below = [s for s in curve if s <= step]
    return curve[max(below)][0] if below else None


def task_table(rows: list[dict], step: int | None = None) -> list[dict]:
    """Per (system, task): seeds, mean and std, normalized score, published SimbaV2 value."""
    last_step = defaultdict(int)
    for r in rows:
        if step is None or r["env_step"] <= step:
            key = (r["system"], r["task"])
            last_step[key] = max(last_step[key], r["env_step"])
    table = []
    for (system, task), by_seed in sorted(final_values(rows, step).items()):
        vals = np.array(list(by_seed.values()))
        bench = BY_ID.get(task)
        at = last_step[(system, task)]
        pub = _published_at(task, at)
        table.append(
            {
                "system": system,
                "task": task,
                "group": bench.group if bench else "other",
                "env_step": at,
                "seeds": len(vals),
                "mean": float(vals.mean()),
                "std": float(vals.std()),
                "normalized": bench.normalize(vals.mean()) if bench else None,
                "published": pub,
                "published_normalized": bench.normalize(pub) if bench and pub is not None else None,
            }
        )
    return table


def aggregate_table(rows: list[dict], step: int | None = None, reps: int = 2000) -> list[dict]:
    """Per system and group (and ``overall``): mean, median, IQM and optimality gap of the
    normalized scores with 95% stratified-bootstrap intervals. Tasks outside the 57 are left
    out; runs per task are cut to the smallest seed count so the score matrix is square."""
    values = final_values(rows, step)
    systems = sorted({s for s, _ in values})
    out = []
    for system in systems:
        tasks = {t: v for (s, t), v in values.items() if s == system and t in BY_ID}
        groups = [g for g in GROUPS if any(BY_ID[t].group == g for t in tasks)]
        for group in [*groups, "overall"] if len(groups) > 1 else groups:
            chosen = sorted(t for t in tasks if group == "overall" or BY_ID[t].group == group)
            n = min(len(tasks[t]) for t in chosen)
            scores = np.array(
                [[BY_ID[t].normalize(v) for v in sorted(tasks[t].values())[:n]] for t in chosen]
            ).T  # (runs, tasks)
            agg = summarize(scores, reps=reps)
            out.append({"system": system, "group": group, "tasks": len(chosen), "runs": n, **agg})
    return out


def format_tables(rows: list[dict], step: int | None = None) -> str:
    lines = [
        f"{'system':18s} {'task':26s} {'env_step':>9s} {'seeds':>5s} {'return':>17s} "
        f"{'norm.':>6s} {'SimbaV2 (published)':>20s}"
    ]
    for r in task_table(rows, step):
        norm = f"{r['normalized']:.3f}" if r["normalized"] is not None else "-"
        pub = f"{r['published']:.1f}" if r["published"] is not None else "-"
        if r["published_normalized"] is not None:
            pub += f" ({r['published_normalized']:.3f})"
        lines.append(
            f"{r['system']:18s} {r['task']:26s} {r['env_step']:>9d} {r['seeds']:>5d} "
            f"{r['mean']:>9.1f} +- {r['std']:<5.1f} {norm:>6s} {pub:>20s}"
        )
    aggs = aggregate_table(rows, step)
    if aggs:
        lines += [
            "",
            "normalized score, 95% stratified-bootstrap CI (optimality gap: lower is better)",
        ]
        lines.append(
            f"{'system':18s} {'group':15s} {'tasks':>5s} {'runs':>4s}  "
            + "  ".join(f"{k:>21s}" for k in ("mean", "median", "iqm", "optimality_gap"))
        )
        for a in aggs:
            cells = "  ".join(
                f"{a[k]['value']:>6.3f} [{a[k]['ci_low']:.3f},{a[k]['ci_high']:.3f}]"
                for k in ("mean", "median", "iqm", "optimality_gap")
            )
            lines.append(
                f"{a['system']:18s} {a['group']:15s} {a['tasks']:>5d} {a['runs']:>4d}  {cells}"
            )
    return "\n".join(lines)
