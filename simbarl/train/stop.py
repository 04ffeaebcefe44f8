"""How a training run is asked to stop: checkpoint first, then exit.

Ctrl-C (SIGINT) and SIGTERM, which cluster schedulers (SLURM, Kubernetes, Ray)
send before killing a job, do the same. The handlers are installed before the
run starts up (``train``), so:

* during start-up (locking, creating envs, loading a checkpoint, before the loop
  runs) a signal stops the run at once: there is nothing to checkpoint yet;
* while the loop runs, the first asks it to write a checkpoint and return, a
  second one aborts at once, except during a checkpoint write, which it lets end
  first (the checkpoint is whole either way; this way it is also the newest).

Both ways of stopping at once raise ``Aborted``, whose text says what is left.
"""

from __future__ import annotations

import contextlib
import signal
import threading
from pathlib import Path

STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)
SIGNAL_NAMES = {signal.SIGINT: "Ctrl-C", signal.SIGTERM: "SIGTERM"}


class Aborted(KeyboardInterrupt):
    """A stop signal ended a run where it could not checkpoint; the text says what is left."""


class StopFlag:
    """First Ctrl-C or SIGTERM asks the loop to checkpoint and stop; a second one aborts.

    Until ``running`` is set (start-up) the first one aborts."""

    def __init__(self):
        self.requested = False
        self.running = False
        self.signal = "Ctrl-C"
        self._writing = 0
        self._pending = False  # a second signal arrived during a write

    def __enter__(self):
        # Signal handlers can only be set from the main thread (not in a worker).
        self._main = threading.current_thread() is threading.main_thread()
        if self._main:
            self._old = {s: signal.signal(s, self._handle) for s in STOP_SIGNALS}
        return self

    def _handle(self, signum, frame):
        self.signal = SIGNAL_NAMES.get(signum, f"signal {signum}")
        if not self.running:
            raise KeyboardInterrupt
        if self.requested:
            if self._writing:
                self._pending = True
                return
            raise KeyboardInterrupt
        self.requested = True

    @contextlib.contextmanager
    def writing(self):
        """A checkpoint write: a second signal during it aborts once it has ended."""
        self._writing += 1
        try:
            yield
        finally:
            self._writing -= 1
        if self._pending and not self._writing:
            raise KeyboardInterrupt

    def aborted(self, run_dir: Path | None, resumed: bool) -> Aborted:
        """The ``Aborted`` to raise for a run (``run_dir``; None: none created yet) that a
        signal ended at once."""
        when = "during start-up" if not self.running else f"at once by a second {self.signal}"
        if not self.running:
            when = f"by {self.signal} {when}"
        return Aborted(f"stopped {when}; {left_behind(run_dir, resumed)}")

    def __exit__(self, *exc):
        if self._main:
            for s, old in self._old.items():
                signal.signal(s, old)


def left_behind(run_dir: Path | None, resumed: bool) -> str:
    """What a run stopped at once leaves, and what to do next."""
    if run_dir is None or not run_dir.is_dir():
        return "nothing was written"
    checkpoints = [run_dir / "checkpoint.npz", *run_dir.glob("seed*/checkpoint.npz")]
    if resumed or any(p.is_file() for p in checkpoints):
        return f"{run_dir} keeps its last checkpoint, whole: continue with --resume {run_dir}"
    return (
        f"{run_dir} holds no checkpoint yet, so there is nothing to resume: delete it "
        f"(rm -r {run_dir}) and start again"
    )
