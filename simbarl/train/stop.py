"""How a training loop is asked to stop: checkpoint first, then exit.

Ctrl-C (SIGINT) and SIGTERM, which cluster schedulers (SLURM, Kubernetes, Ray)
send before killing a job, do the same: the first asks the loop to write a
checkpoint and return, a second one aborts at once.
"""

from __future__ import annotations

import signal
import threading

STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)


class StopFlag:
    """First Ctrl-C or SIGTERM asks the loop to checkpoint and stop; a second one aborts."""

    def __init__(self):
        self.requested = False

    def __enter__(self):
        # Signal handlers can only be set from the main thread (not in a worker).
        self._main = threading.current_thread() is threading.main_thread()
        if self._main:
            self._old = {s: signal.signal(s, self._handle) for s in STOP_SIGNALS}
        return self

    def _handle(self, signum, frame):
        if self.requested:
            raise KeyboardInterrupt
        self.requested = True

    def __exit__(self, *exc):
        if self._main:
            for s, old in self._old.items():
                signal.signal(s, old)
