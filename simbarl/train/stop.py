"""How a training loop is asked to stop: checkpoint first, then exit."""

from __future__ import annotations

import signal
import threading


class StopFlag:
    """First Ctrl-C asks the loop to checkpoint and stop; a second one aborts."""

    def __init__(self):
        self.requested = False

    def __enter__(self):
        # Signal handlers can only be set from the main thread (not in a worker).
        self._main = threading.current_thread() is threading.main_thread()
        if self._main:
            self._old = signal.signal(signal.SIGINT, self._handle)
        return self

    def _handle(self, signum, frame):
        if self.requested:
            raise KeyboardInterrupt
        self.requested = True

    def __exit__(self, *exc):
        if self._main:
            signal.signal(signal.SIGINT, self._old)
