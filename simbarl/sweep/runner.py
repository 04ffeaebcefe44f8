"""One sweep run, in the current process: skip it if finished, resume it, or start it.

``python -m simbarl.sweep.runner SPEC.json`` runs one spec; the local backend
starts one such process per run so a crash (or a segfault in a simulator) takes
only its own run down.
"""

from __future__ import annotations

import dataclasses
import json
import os
import shutil
import signal
import sys
import threading
import time
import traceback
from pathlib import Path

from simbarl.runs import run_dir as rd
from simbarl.runs.lock import LOCK_FILE, RunLocked, RunLocks, holder
from simbarl.sweep.spec import RunSpec

EXIT_INTERRUPTED = 130
# A run the runner left alone (``status``) exits with its own code, for the driver.
EXIT_LEFT_ALONE = {"kept": 3, "running": 4}


def checkpoint_step(run_dir: str | Path) -> int | None:
    """Env steps done by a run's checkpoint, or None if it has none readable."""
    path = Path(run_dir) / rd.CHECKPOINT_FILE
    if not path.is_file():
        return None
    from simbarl.runs.checkpoint import read_meta

    try:
        return int(read_meta(path)["env_step"])
    except ValueError:  # damaged: the sweep reports it, never deletes the run
        return None


def logged_step(run_dir: str | Path) -> int | None:
    """Env step of the last evaluation in a run's ``metrics.jsonl``, or None."""
    from simbarl.runs.metrics import read_metrics

    if not (Path(run_dir) / "metrics.jsonl").is_file():
        return None
    steps = [r["env_step"] for r in read_metrics(run_dir) if "eval/return" in r]
    return max(steps, default=None)


def end_step(config: dict) -> int:
    """Where a sweep run ends: its ``pause_at`` (``simbarl sweep --until``) if set, else
    its budget. The learning-rate schedule spans the budget either way, so ``--steps
    1000000 --until 100000`` reads the published protocol at 100k."""
    pause = config.get("pause_at")
    return min(pause, config["steps"]) if pause else config["steps"]


def status(spec: RunSpec, locked: bool = False) -> str:
    """``done`` (its end, ``end_step``, reached), ``resume`` (has a checkpoint), ``new``,
    ``running`` (another live process holds its lock) or ``kept`` (it has evaluations but no
    readable checkpoint to continue from: only ``--restart`` starts it over).

    A run whose checkpoint was deleted after it finished (it holds the replay
    buffer, the bulk of a run directory) still counts as done when its
    ``metrics.jsonl`` has the evaluation at the budget, so finished runs can be
    kept as their config and metrics alone. A sweep never deletes a run that has
    logged an evaluation.

    ``locked``: the caller holds the run's lock (``run`` decides under it, so two
    sweeps started at once never both claim a run); otherwise the answer is a
    report, which may change before the run is opened."""
    if not locked and holder(spec.run_dir) is not None:
        return "running"
    step = checkpoint_step(spec.run_dir)
    if step is None:
        logged = logged_step(spec.run_dir)
        if logged is None:
            return "restart" if spec.restart else "new"
        if logged >= end_step(spec.config):
            return "done"
        return "restart" if spec.restart else "kept"
    return "done" if step >= end_step(spec.config) else "resume"


def explain(spec: RunSpec, state: str) -> str:
    """Why a run is ``kept`` or ``running``, and what the user can do."""
    if state == "running":
        return f"being trained by {holder(spec.run_dir) or 'another process'}; left alone"
    if state != "kept":
        return ""
    logged = logged_step(spec.run_dir)
    ckpt = Path(spec.run_dir) / rd.CHECKPOINT_FILE
    why = "its checkpoint is damaged" if ckpt.exists() else "no checkpoint to extend"
    return (
        f"stopped at {logged:,} of {end_step(spec.config):,} env steps, {why}: rerun "
        f"with --restart {spec.run_dir} to train it again from zero, or leave it"
    )


def eval_rows(spec: RunSpec) -> list[dict]:
    """The run's evaluations up to its end (``end_step``) as rows of the published layout."""
    from simbarl.runs.metrics import read_metrics

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
        if r["env_step"] <= end_step(spec.config)
        for key, metric in (("eval/return", "avg_return"), ("eval/success", "avg_success"))
        if key in r
    ]


def run(spec: RunSpec) -> str:
    """Bring one run to its budget; returns ``done``, ``skipped``, ``interrupted``,
    ``kept`` or ``running`` (``status``: left alone).

    The run's lock is taken first and its fate decided while it is held: a run
    another process holds is ``running`` and untouched, and what a ``new`` or
    ``restart`` run held is cleared only by the lock's holder (the lock file stays:
    a second sweep waiting on it must find the same file)."""
    from simbarl.train.run import train

    run_dir = Path(spec.run_dir)
    try:
        run_dir.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise ValueError(f"cannot create run directory {run_dir} ({e.strerror})") from e
    with RunLocks() as locks:
        try:
            locks.hold(run_dir)
        except RunLocked:
            return "running"
        state = status(spec, locked=True)
        if state == "done":
            return "skipped"
        if state == "kept":
            return state
        if state in ("new", "restart"):
            # "new": died before its first evaluation, nothing to keep; "restart": asked for
            _clear(run_dir)
        cfg = dataclasses.replace(spec.train_config(), progress="off")
        resume = run_dir if state == "resume" else None
        result = train(cfg, resume=resume, locks=locks)
    stopped_early = result.interrupted and result.env_step < end_step(spec.config)
    return "interrupted" if stopped_early else "done"


def _clear(run_dir: Path) -> None:
    """Delete everything in ``run_dir`` but its lock file (call with the lock held)."""
    for p in run_dir.iterdir():
        if p.name == LOCK_FILE:
            continue
        if p.is_dir() and not p.is_symlink():
            shutil.rmtree(p)
        else:
            p.unlink()


def _die_with_parent() -> None:
    """Stop like SIGTERM does (checkpoint, exit) once the sweep driver is gone, even
    after a ``kill -9`` of it: a run never trains on without its sweep."""
    parent = os.getppid()

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(1.0)
        os.kill(os.getpid(), signal.SIGTERM)

    threading.Thread(target=watch, daemon=True, name="parent-watch").start()


def main(argv: list[str]) -> int:
    _die_with_parent()
    spec = RunSpec(**json.loads(Path(argv[0]).read_text()))
    try:
        outcome = run(spec)
    except KeyboardInterrupt as e:  # stopped at once (train/stop.py): one line, what is left
        print(f"sweep run {spec.name}: {e or 'stopped'}", flush=True)
        return EXIT_INTERRUPTED
    except Exception:
        traceback.print_exc()
        return 1
    print(f"sweep run {spec.name}: {outcome}", flush=True)
    if outcome == "interrupted":
        return EXIT_INTERRUPTED
    return EXIT_LEFT_ALONE.get(outcome, 0)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
