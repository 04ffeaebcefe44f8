"""Where tuning workers run: this process, local processes, or Ray tasks.

Workers coordinate only through the study's storage (and the trial-count lock
in the study directory), so the three differ only in how they are started.
Each process keeps XLA to its share of the cores, as a sweep's runs do.
"""

from __future__ import annotations

import dataclasses
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

from simbarl.sweep.backends import thread_env
from simbarl.train.progress import say
from simbarl.tune.storage import quiet_optuna, storage_kind
from simbarl.tune.study import TuneSpec
from simbarl.tune.trial import WriteFailed
from simbarl.tune.worker import EXIT_INTERRUPTED, run_worker


def run_local(spec: TuneSpec, workers: int) -> str:
    """``workers`` workers on this machine: ``done`` or ``interrupted``.

    One worker runs in this process; several run as ``python -m simbarl.tune.worker``
    processes logging to OUT/logs/worker<k>.log, their trial lines shown here too.
    Ctrl-C reaches them all; each checkpoints its trial and stops.
    """
    if workers == 1:
        try:
            return run_worker(spec, 0)
        except WriteFailed:
            raise
        except KeyboardInterrupt:
            return "interrupted"
    threads = max(1, (os.cpu_count() or 1) // workers)
    env = {**os.environ, **thread_env(threads, share_accelerator=True)}
    logs = Path(spec.out) / "logs"
    logs.mkdir(parents=True, exist_ok=True)
    procs, relays, stop_relay = [], [], threading.Event()
    for k in range(workers):
        with open(logs / f"worker{k}.log", "a") as log:
            cmd = [sys.executable, "-m", "simbarl.tune.worker", spec.out, str(k)]
            start = log.tell()
            procs.append(
                subprocess.Popen(
                    cmd, stdout=log, stderr=subprocess.STDOUT, env=env, stdin=subprocess.DEVNULL
                )
            )
        relays.append(_relay(logs / f"worker{k}.log", start, f"worker {k}", stop_relay))
    codes = []
    for p in procs:
        while True:
            try:
                codes.append(p.wait())
                break
            except KeyboardInterrupt:  # the workers got it too: wait for their checkpoints
                continue
    stop_relay.set()
    for relay in relays:
        relay.join()
    if any(c == EXIT_INTERRUPTED or c < 0 for c in codes):
        return "interrupted"
    failed = [k for k, c in enumerate(codes) if c != 0]
    if failed:
        raise RuntimeError(f"tune workers {failed} failed; see {logs}/worker<k>.log")
    return "done"


def _relay(log: Path, start: int, name: str, stop: threading.Event) -> threading.Thread:
    """Show the trial lines (``trial.say``) a worker appends to its log from byte ``start``
    on, prefixed with ``name``, until ``stop`` is set (the worker writes the file itself:
    it carries on if this process is killed)."""

    def follow() -> None:
        pending = ""
        with open(log, errors="replace") as f:
            f.seek(start)
            while True:
                ended = stop.is_set()  # read once more after the worker's exit
                *lines, pending = (pending + f.read()).split("\n")  # whole lines only
                for line in lines:
                    if "] trial " in line:
                        say(f"{name} {line}")  # one write: relays run side by side
                if ended:
                    return
                time.sleep(0.5)

    thread = threading.Thread(target=follow, daemon=True, name=f"relay-{name}")
    thread.start()
    return thread


def _ray_worker(spec_dict: dict, index: int, threads: int) -> str:
    """A Ray task: one worker on the node Ray chose, sharing the study's storage."""
    for k, v in thread_env(threads, share_accelerator=True).items():
        os.environ.setdefault(k, v)
    quiet_optuna()
    return run_worker(TuneSpec(**spec_dict), index)


def _absolute(spec: TuneSpec) -> TuneSpec:
    """``spec`` with the study directory and a file storage's path made absolute."""
    storage = spec.storage
    if storage.startswith("sqlite:///") and storage != "sqlite:///:memory:":
        storage = "sqlite:///" + str(Path(storage.removeprefix("sqlite:///")).resolve())
    elif storage_kind(storage) == "journal":
        storage = "journal:" + str(Path(storage.removeprefix("journal:")).resolve())
    return dataclasses.replace(spec, out=str(Path(spec.out).resolve()), storage=storage)


def run_ray(spec: TuneSpec, workers: int, address: str | None, cpus: float, gpus: float) -> str:
    """``workers`` workers as Ray tasks on the cluster at ``address`` (None: a local instance).

    Every node must reach the storage (PostgreSQL/MySQL, or a journal file on a shared
    filesystem) and the study directory, where trials write their run directories.
    """
    try:
        import ray
    except ImportError as e:
        raise RuntimeError("--backend ray needs ray: pip install 'simbarl[ray]'") from e
    spec = _absolute(spec)  # a Ray worker's working directory is not the driver's
    if not ray.is_initialized():
        ray.init(address=address, include_dashboard=False)
    task = ray.remote(num_cpus=cpus, num_gpus=gpus, max_retries=0)(_ray_worker)
    refs = [task.remote(dataclasses.asdict(spec), k, max(1, int(cpus))) for k in range(workers)]
    try:
        outcomes = ray.get(refs)
    except KeyboardInterrupt:
        for ref in refs:
            ray.cancel(ref)
        return "interrupted"
    return "interrupted" if "interrupted" in outcomes else "done"
