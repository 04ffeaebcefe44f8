"""One trainer per run directory: an OS file lock that dies with its holder.

``RUN/.lock`` is locked with ``flock`` by the process training the run, and
names that process (pid and host) for whoever is refused. The kernel drops the
lock when the process ends in any way, ``kill -9`` included, so a lock is never
stale; the file itself stays and is harmless. While the lock is held nothing
else writes the directory, so temporary files found there (``NAME.<pid>.tmp``
from ``files.atomic_open``) are leftovers of a killed write and are removed.
"""

from __future__ import annotations

import contextlib
import os
import re
import socket
from pathlib import Path

LOCK_FILE = ".lock"
# What files.atomic_open leaves behind when its process is killed mid-write.
_TMP = re.compile(r".+\.\d+\.tmp$")

try:
    import fcntl
except ImportError:  # Windows: no flock; runs are not locked there
    fcntl = None


class RunLocked(ValueError):
    """Another live process is training this run directory."""


def _try_flock(fd: int) -> bool:
    if fcntl is None:
        return True
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return False
    return True


def holder(run_dir: str | Path) -> str | None:
    """Who holds ``run_dir``'s lock ("pid N on host H"), or None when no live process does."""
    path = Path(run_dir) / LOCK_FILE
    if fcntl is None or not path.is_file():
        return None
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return None
    try:
        if _try_flock(fd):
            return None  # released again when fd closes
        return os.read(fd, 200).decode(errors="replace").strip() or "another process"
    finally:
        os.close(fd)


def remove_stale_temporaries(run_dir: Path) -> list[Path]:
    """Delete the ``*.<pid>.tmp`` files of killed writes (call with the lock held)."""
    stale = [p for p in run_dir.iterdir() if p.is_file() and _TMP.match(p.name)]
    for p in stale:
        p.unlink(missing_ok=True)
    return stale


class RunLocks(contextlib.AbstractContextManager):
    """The run directories one training call holds; all are released when it ends."""

    def __init__(self):
        self._fds: dict[Path, int] = {}

    def hold(self, run_dir: str | Path) -> Path:
        """Lock the existing ``run_dir`` or raise ``RunLocked`` naming the holder."""
        run_dir = Path(run_dir)
        key = run_dir.resolve()
        if key in self._fds:
            return run_dir
        if not run_dir.is_dir():
            what = "it is a file" if run_dir.exists() else "it does not exist"
            raise ValueError(f"{run_dir} is not a simbarl run directory ({what})")
        try:
            fd = os.open(run_dir / LOCK_FILE, os.O_RDWR | os.O_CREAT, 0o644)
        except OSError as e:
            raise ValueError(
                f"cannot write run directory {run_dir} ({e.strerror}): choose a writable --run-dir"
            ) from e
        if not _try_flock(fd):
            holder = os.read(fd, 200).decode(errors="replace").strip() or "another process"
            os.close(fd)
            raise RunLocked(
                f"run directory {run_dir} is being trained by {holder}; wait for it to "
                "finish or stop it (a killed process releases the lock at once)"
            )
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"pid {os.getpid()} on host {socket.gethostname()}\n".encode(), 0)
        self._fds[key] = fd
        remove_stale_temporaries(run_dir)
        return run_dir

    def release(self) -> None:
        for fd in self._fds.values():
            os.close(fd)  # closing the descriptor drops the flock
        self._fds.clear()

    def __exit__(self, *exc):
        self.release()
        return None
