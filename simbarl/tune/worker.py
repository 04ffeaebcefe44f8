"""A tuning worker: run trials of a study until it holds its number of trials.

Any number of workers (local processes, Ray tasks, other machines) share one
study through its storage. Before each trial a worker takes a file lock in the
study directory, counts the trials finished, pruned, running or queued, and
creates its trial only if the count is short, so K workers never overshoot
the requested number. ``python -m simbarl.tune.worker OUT INDEX`` runs one worker
on ``OUT/tune.json``; ``simbarl tune`` starts them.
"""

from __future__ import annotations

import fcntl
import sys
import time
import warnings
from contextlib import contextmanager
from pathlib import Path

from simbarl.tune.storage import quiet_optuna, require_optuna, retried_from, storage_kind
from simbarl.tune.study import TuneSpec, open_study
from simbarl.tune.trial import WriteFailed, make_objective

EXIT_INTERRUPTED = 130


class _Lock:
    """An exclusive ``flock`` on OUT/.trials.lock, released once (by whoever comes first)."""

    def __init__(self, out: str):
        self.path = Path(out) / ".trials.lock"
        self._file = None

    def acquire(self) -> None:
        self._file = open(self.path, "a")
        fcntl.flock(self._file, fcntl.LOCK_EX)

    def release(self) -> None:
        if self._file is not None:
            fcntl.flock(self._file, fcntl.LOCK_UN)
            self._file.close()
            self._file = None


@contextmanager
def _held(lock: _Lock):
    lock.acquire()
    try:
        yield
    finally:
        lock.release()


def requeue_interrupted(study) -> list[int]:
    """Queue a re-run of every trial stopped by Ctrl-C that has none yet; their numbers."""
    opt = require_optuna()
    trials = study.get_trials(deepcopy=False)
    taken = {t.user_attrs.get("resume_of") for t in trials}
    queued = []
    for t in trials:
        if (
            t.state == opt.trial.TrialState.FAIL
            and t.user_attrs.get("interrupted")
            and t.number not in taken
        ):
            study.enqueue_trial(t.params, user_attrs={"resume_of": t.number})
            queued.append(t.number)
    return queued


def run_worker(spec: TuneSpec, index: int = 0, poll: float | None = None) -> str:
    """Run trials until the study is full; ``done``, or ``interrupted`` (Ctrl-C: the running
    trial checkpointed and will resume in the next session). A trial that could not write
    (a full disk) raises ``WriteFailed``; it too resumes in the next session.

    Once the count is reached the worker waits for trials still running elsewhere when
    the storage has heartbeats: one whose process died is failed after its grace period
    and queued again, and this worker runs it.
    """
    opt = require_optuna()
    state = opt.trial.TrialState
    study = open_study(spec, index)
    lock = _Lock(spec.out)
    objective = make_objective(spec, on_start=lock.release)
    heartbeat = storage_kind(spec.storage) == "rdb"
    poll = poll if poll is not None else min(spec.heartbeat, 30.0)
    while True:
        with _held(lock):
            if heartbeat:
                with warnings.catch_warnings():  # "experimental" in Optuna
                    warnings.simplefilter("ignore")
                    opt.storages.fail_stale_trials(study)
            requeue_interrupted(study)
            trials = study.get_trials(deepcopy=False)
            # A failed trial counts (its hyperparameters diverged, or a crash is skipped with
            # --retries 0) unless another trial re-runs it.
            replaced = {retried_from(t) for t in trials}
            counted = [t for t in trials if t.number not in replaced]
            waiting = any(t.state == state.WAITING for t in trials)
            running = any(t.state == state.RUNNING for t in trials)
            if len(counted) < spec.trials or waiting:
                try:
                    study.optimize(objective, n_trials=1, catch=(Exception,))
                except WriteFailed:
                    raise
                except KeyboardInterrupt:
                    return "interrupted"
                continue
        if not (heartbeat and running):
            return "done"
        time.sleep(poll)


def main(argv: list[str]) -> int:
    quiet_optuna()
    spec = TuneSpec.load(argv[0])
    index = int(argv[1]) if len(argv) > 1 else 0
    try:
        outcome = run_worker(spec, index)
    except WriteFailed as e:
        print(f"tune worker {index}: error: {e}", flush=True)
        return 1
    except KeyboardInterrupt:
        outcome = "interrupted"
    print(f"tune worker {index}: {outcome}", flush=True)
    return EXIT_INTERRUPTED if outcome == "interrupted" else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
