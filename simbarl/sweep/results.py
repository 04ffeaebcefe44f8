"""Sweep results: one CSV in the published layout, and per-task / per-suite score tables.

The CSV has a row per evaluation: ``system, task, metric, env_step, value, seed``
(``system`` is the config's label, ``metric`` ``avg_return`` or ``avg_success``).
Tables take each run's evaluation at a chosen env step (default: its last),
normalize it where the task is one of the 57 (``simbarl tasks``) and aggregate
per group and overall with stratified-bootstrap intervals (``analysis.scores``).

A MuJoCo ``-v5`` task (``HalfCheetah-v5``) is scored with the published ``-v4``
random and TD3 numbers and beside the ``-v4`` curve, and its rows carry the note
``published score is for -v4`` (marked ``*`` in the printed tables). When a
system has both versions of a task, the aggregates count the ``-v4`` one only.
"""

from __future__ import annotations

import csv
from collections import defaultdict
from pathlib import Path

import numpy as np

from simbarl.analysis.scores import summarize
from simbarl.envs.benchmark_tasks import GROUPS, lookup, published_mujoco_id
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
    bench = lookup(task)
    metric = "avg_success" if bench and bench.metric == "success" else "avg_return"
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
        bench = lookup(task)
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
                "note": bench.note if bench else "",
            }
        )
    return table


def aggregate_table(rows: list[dict], step: int | None = None, reps: int = 2000) -> list[dict]:
    """Per system and group (and ``overall``): mean, median, IQM and optimality gap of the
    normalized scores with 95% stratified-bootstrap intervals. Tasks outside the 57 are left
    out; runs per task are cut to the smallest seed count so the score matrix is square. A
    -v5 task counts unless the system also has its -v4 version; ``note`` names the -v5
    tasks counted."""
    values = final_values(rows, step)
    systems = sorted({s for s, _ in values})
    out = []
    for system in systems:
        tasks = {t: v for (s, t), v in values.items() if s == system and lookup(t)}
        tasks = {t: v for t, v in tasks.items() if published_mujoco_id(t) not in tasks}
        bench = {t: lookup(t) for t in tasks}
        groups = [g for g in GROUPS if any(b.group == g for b in bench.values())]
        for group in [*groups, "overall"] if len(groups) > 1 else groups:
            chosen = sorted(t for t in tasks if group == "overall" or bench[t].group == group)
            n = min(len(tasks[t]) for t in chosen)
            scores = np.array(
                [[bench[t].normalize(v) for v in sorted(tasks[t].values())[:n]] for t in chosen]
            ).T  # (runs, tasks)
            agg = summarize(scores, reps=reps)
            flagged = [t for t in chosen if bench[t].note]
            note = f"{', '.join(flagged)}: {bench[flagged[0]].note}" if flagged else ""
            out.append(
                {
                    "system": system,
                    "group": group,
                    "tasks": len(chosen),
                    "runs": n,
                    **agg,
                    "note": note,
                }
            )
    return out


def format_tables(rows: list[dict], step: int | None = None) -> str:
    lines = [
        f"{'system':18s} {'task':26s} {'env_step':>9s} {'seeds':>5s} {'return':>17s} "
        f"{'norm.':>6s} {'SimbaV2 (published)':>20s}"
    ]
    notes = set()
    for r in task_table(rows, step):
        norm = f"{r['normalized']:.3f}" if r["normalized"] is not None else "-"
        if r["note"]:
            norm += "*"
            notes.add(r["note"])
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
            group = a["group"] + ("*" if a["note"] else "")
            lines.append(f"{a['system']:18s} {group:15s} {a['tasks']:>5d} {a['runs']:>4d}  {cells}")
    for note in sorted(notes):
        lines += ["", f"* {note}: a -v5 result, normalized with the -v4 random and TD3 scores"]
    return "\n".join(lines)
