"""One sweep run, in the current process: skip it if finished, resume it, or start it.

``python -m simbarl.sweep.runner SPEC.json`` runs one spec; the local backend
starts one such process per run so a crash (or a segfault in a simulator) takes
only its own run down.
"""

from __future__ import annotations

import dataclasses
import json
import shutil
import sys
import traceback
from pathlib import Path

from simbarl.sweep.spec import RunSpec
from simbarl.train import run_dir as rd

EXIT_INTERRUPTED = 130


def checkpoint_step(run_dir: str | Path) -> int | None:
    """Env steps done by a run's checkpoint, or None if it has none readable."""
    path = Path(run_dir) / rd.CHECKPOINT_FILE
    if not path.is_file():
        return None
    from simbarl.train.checkpoint import read_meta

    try:
        return int(read_meta(path)["env_step"])
    except ValueError:
        return None


def logged_step(run_dir: str | Path) -> int | None:
    """Env step of the last evaluation in a run's ``metrics.jsonl``, or None."""
    from simbarl.train.logger import read_metrics

    if not (Path(run_dir) / "metrics.jsonl").is_file():
        return None
    steps = [r["env_step"] for r in read_metrics(run_dir) if "eval/return" in r]
    return max(steps, default=None)


def status(spec: RunSpec) -> str:
    """``done`` (budget reached), ``resume`` (has a checkpoint) or ``new``.

    A run whose checkpoint was deleted after it finished (it holds the replay
    buffer, the bulk of a run directory) still counts as done when its
    ``metrics.jsonl`` has the evaluation at the budget, so finished runs can be
    kept as their config and metrics alone."""
    step = checkpoint_step(spec.run_dir)
    if step is None:
        logged = logged_step(spec.run_dir)
        return "done" if logged is not None and logged >= spec.config["steps"] else "new"
    return "done" if step >= spec.config["steps"] else "resume"


def eval_rows(spec: RunSpec) -> list[dict]:
    """The run's evaluations as rows of the published layout."""
    from simbarl.train.logger import read_metrics

    path = Path(spec.run_dir) / "metrics.jsonl"
    if not path.is_file():
        return []
    return [
        {
            "system": spec.label,
            "task": spec.task,
            "metric": metric,
            "env_step": r["env_step"],
            "value": r[key],
            "seed": spec.seed,
        }
        for r in read_metrics(spec.run_dir)
        for key, metric in (("eval/return", "avg_return"), ("eval/success", "avg_success"))
        if key in r
    ]


def run(spec: RunSpec) -> str:
    """Bring one run to its budget; returns ``done``, ``skipped`` or ``interrupted``."""
    from simbarl.train.run import train

    state = status(spec)
    if state == "done":
        return "skipped"
    cfg = dataclasses.replace(spec.train_config(), progress=False)
    run_dir = Path(spec.run_dir)
    if state == "new" and run_dir.exists():
        shutil.rmtree(run_dir)  # died before its first checkpoint: nothing to keep
    result = train(cfg, resume=run_dir if state == "resume" else None)
    return "interrupted" if result.interrupted else "done"


def main(argv: list[str]) -> int:
    spec = RunSpec(**json.loads(Path(argv[0]).read_text()))
    try:
        outcome = run(spec)
    except Exception:
        traceback.print_exc()
        return 1
    print(f"sweep run {spec.name}: {outcome}", flush=True)
    return EXIT_INTERRUPTED if outcome == "interrupted" else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
