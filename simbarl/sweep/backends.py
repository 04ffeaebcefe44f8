"""Where sweep runs execute: a local pool of processes, or an existing Ray cluster.

Both call ``on_outcome`` as each run ends, with its state (``done``, ``skipped``,
``interrupted``, ``failed``, ``not started``, or ``kept`` and ``running`` for runs
left alone, see ``runner.status``) and its evaluation rows; a failed run is
reported with its error and the others carry on.

A local sweep's runs stop with it: SIGTERM to the driver reaches them (each
checkpoints and exits), and a runner whose driver was killed outright stops by
itself (``runner._die_with_parent``).
"""

from __future__ import annotations

import dataclasses
import json
import os
import signal
import subprocess
import sys
import threading
import time
import traceback
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor, as_completed
from pathlib import Path

from simbarl.sweep import runner
from simbarl.sweep.spec import RunSpec, task_slug


@dataclasses.dataclass
class Outcome:
    spec: RunSpec
    state: str
    seconds: float = 0.0
    error: str = ""
    rows: list = dataclasses.field(default_factory=list)


def thread_env(threads: int, share_accelerator: bool) -> dict[str, str]:
    """Environment variables that keep one run to ``threads`` CPU threads."""
    env = {"OMP_NUM_THREADS": str(threads)}
    if threads == 1 and "XLA_FLAGS" not in os.environ:  # XLA's CPU pool takes every core
        env["XLA_FLAGS"] = "--xla_cpu_multi_thread_eigen=false"
    if share_accelerator:  # several processes on one GPU: allocate as needed
        env["XLA_PYTHON_CLIENT_PREALLOCATE"] = "false"
    return env


def _tail(path: Path, lines: int = 12) -> str:
    if not path.is_file():
        return ""
    return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])


def run_local(
    specs: list[RunSpec],
    workers: int,
    log_dir: str | Path,
    on_outcome: Callable[[Outcome], None],
    on_start: Callable[[RunSpec], None] = lambda spec: None,
) -> list[Outcome]:
    """Run each spec in its own ``python -m simbarl.sweep.runner`` process, ``workers`` at once
    (``on_start`` is called as each one starts).

    Its output goes to ``log_dir/<task>/<label>-seed<k>.log``. Ctrl-C, or SIGINT or
    SIGTERM sent to this process alone (``kill <pid>``, a scheduler), is passed on
    to the running processes, which checkpoint and stop; a second one makes them
    abort. Runs not yet started are left. (From the main thread the runs get
    sessions of their own, so that a terminal's Ctrl-C reaches them once, through
    the sweep, and not twice.)
    """
    threads = max(1, (os.cpu_count() or 1) // workers)
    env = {**os.environ, **thread_env(threads, workers > 1)}
    stop = threading.Event()
    children: set[subprocess.Popen] = set()
    passing_on = threading.RLock()
    main_thread = threading.current_thread() is threading.main_thread()

    def one(spec: RunSpec) -> Outcome:
        if stop.is_set():
            return Outcome(spec, "not started")
        left = _left_alone(spec)
        if left is not None:
            return left
        log = Path(log_dir) / task_slug(spec.task) / f"{spec.label}-seed{spec.seed}.log"
        log.parent.mkdir(parents=True, exist_ok=True)
        spec_file = log.with_suffix(".json")
        spec_file.write_text(json.dumps(dataclasses.asdict(spec)))
        on_start(spec)
        start = time.time()
        with open(log, "a") as f:
            proc = subprocess.Popen(
                [sys.executable, "-m", "simbarl.sweep.runner", str(spec_file)],
                stdout=f,
                stderr=subprocess.STDOUT,
                env=env,
                stdin=subprocess.DEVNULL,
                start_new_session=main_thread,  # signals come through on_signal below
            )
            with passing_on:  # a run started while a signal was passed on gets it too
                children.add(proc)
                if stop.is_set() and main_thread:
                    proc.send_signal(signal.SIGINT)
            rc = proc.wait()
            children.discard(proc)
        seconds = time.time() - start
        if rc == runner.EXIT_INTERRUPTED or rc < 0:
            stop.set()
            return Outcome(spec, "interrupted", seconds, rows=runner.eval_rows(spec))
        alone = {code: state for state, code in runner.EXIT_LEFT_ALONE.items()}.get(rc)
        if alone is not None:  # the runner found it kept or running, under its lock
            error = runner.explain(spec, alone)
            return Outcome(spec, alone, seconds, error, rows=runner.eval_rows(spec))
        if rc != 0:
            return Outcome(spec, "failed", seconds, f"exit {rc}, log {log}:\n{_tail(log)}")
        return Outcome(spec, "done", seconds, rows=runner.eval_rows(spec))

    def on_signal(signum, frame):
        with passing_on:  # reentrant: a second signal may arrive inside the first
            stop.set()  # no run starts after this
            for proc in list(children):  # the first: every run checkpoints; a second: abort
                proc.send_signal(signum)
        raise KeyboardInterrupt

    outcomes = []
    pool = ThreadPoolExecutor(max_workers=workers)
    handled = (signal.SIGINT, signal.SIGTERM)
    old = {s: signal.signal(s, on_signal) for s in handled} if main_thread else {}
    try:
        for fut in as_completed([pool.submit(one, s) for s in specs]):
            outcomes.append(fut.result())
            on_outcome(outcomes[-1])
    except KeyboardInterrupt:
        stop.set()  # the children got the signal too and are checkpointing
        pool.shutdown(wait=True, cancel_futures=True)
        raise
    finally:
        for s, handler in old.items():
            signal.signal(s, handler)
    pool.shutdown()
    return outcomes


def _left_alone(spec: RunSpec) -> Outcome | None:
    """The outcome of a run that is not (re)started: finished, kept or running."""
    state = runner.status(spec)
    if state == "done":
        return Outcome(spec, "skipped", rows=runner.eval_rows(spec))
    if state in ("kept", "running"):
        return Outcome(spec, state, error=runner.explain(spec, state), rows=runner.eval_rows(spec))
    return None


def _ray_run(spec_dict: dict, threads: int) -> tuple[str, str, list]:
    """A Ray task: bring one run to its budget where Ray placed it."""
    for k, v in thread_env(threads, share_accelerator=True).items():
        os.environ.setdefault(k, v)
    spec = RunSpec(**spec_dict)
    try:
        state = runner.run(spec)
    except Exception:
        return "failed", traceback.format_exc(limit=8), []
    return state, "", runner.eval_rows(spec)


def run_ray(
    specs: list[RunSpec],
    address: str | None,
    cpus_per_run: float,
    gpus_per_run: float,
    on_outcome: Callable[[Outcome], None],
    init_kwargs: dict | None = None,
) -> list[Outcome]:
    """Run each spec as a Ray task on the cluster at ``address`` (None: a local instance).

    Run directories are written where the task runs: on a cluster, ``--out``
    must be a filesystem every node shares for resuming to find them. Results
    come back to the driver with each task either way.
    """
    try:
        import ray
    except ImportError as e:
        raise RuntimeError("the Ray backend needs ray: pip install 'simbarl[ray]'") from e
    if not ray.is_initialized():
        ray.init(address=address, include_dashboard=False, **(init_kwargs or {}))
    task = ray.remote(num_cpus=cpus_per_run, num_gpus=gpus_per_run, max_retries=0)(_ray_run)
    threads = max(1, int(cpus_per_run))
    pending, started, outcomes = {}, {}, []
    for spec in specs:  # finished runs are skipped on the driver, without a task
        left = _left_alone(spec)
        if left is not None:
            outcomes.append(left)
            on_outcome(left)
        else:
            ref = task.remote(dataclasses.asdict(spec), threads)
            pending[ref], started[ref] = spec, time.time()
    try:
        while pending:
            done, _ = ray.wait(list(pending), num_returns=1)
            for ref in done:
                spec = pending.pop(ref)
                try:
                    state, error, rows = ray.get(ref)
                except Exception as e:  # the worker died (out of memory, node lost)
                    state, error, rows = "failed", f"{type(e).__name__}: {e}", []
                outcomes.append(Outcome(spec, state, time.time() - started[ref], error, rows))
                on_outcome(outcomes[-1])
    except KeyboardInterrupt:
        for ref in pending:
            ray.cancel(ref)
        raise
    return outcomes
