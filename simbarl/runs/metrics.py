"""Run-directory logging: ``metrics.jsonl`` (one JSON object a line) and TensorBoard.

``metrics.jsonl`` is the run's record: a failure writing it (a full disk) is raised,
and the session turns it into an error naming the run. TensorBoard is a view of the
same rows: when its writer fails it is reported once (one line on stderr) and dropped,
and training goes on; nothing it does can block the training thread.
"""

from __future__ import annotations

import json
import math
import sys
from pathlib import Path

from simbarl.files import atomic_open
from simbarl.runs.tensorboard import ScalarWriter


def report_dropped(run_dir: Path, writer: str, error: BaseException) -> None:
    """The one line saying that ``writer`` (TensorBoard, W&B) of ``run_dir`` failed and is
    no longer written; ``metrics.jsonl`` still holds every row."""
    reason = getattr(error, "strerror", None) or str(error) or type(error).__name__
    print(
        f"simbarl: warning: {writer} logging of run {run_dir} failed ({reason}) and is off "
        "for the rest of the run; metrics.jsonl keeps every row",
        file=sys.stderr,
        flush=True,
    )


class Logger:
    """Writes rows to ``metrics.jsonl`` and, unless it fails, TensorBoard (``tb/``)."""

    def __init__(
        self,
        run_dir: Path,
        tensorboard: bool = True,
        resume_env_step: int | None = None,
    ):
        self.run_dir = run_dir
        self.path = run_dir / "metrics.jsonl"
        if resume_env_step is not None and self.path.exists():
            # Drop rows the killed run wrote after its last checkpoint (they are redone)
            # and a last line cut short by a kill or a full disk.
            keep = [r for r in _rows(self.path) if r.get("env_step", 0) <= resume_env_step]
            with atomic_open(self.path) as f:
                f.write("".join(json.dumps(r) + "\n" for r in keep))
        self._file = open(self.path, "a", buffering=1)
        self._tb: ScalarWriter | None = None
        if tensorboard:
            try:
                self._tb = ScalarWriter(run_dir / "tb")
            except OSError as e:
                report_dropped(run_dir, "TensorBoard", e)

    def log(self, row: dict) -> None:
        """Append ``row``; an ``OSError`` writing ``metrics.jsonl`` is raised (the file
        closed first, so nothing retries the write at exit)."""
        row = {k: (float(v) if not isinstance(v, (int, str)) else v) for k, v in row.items()}
        try:
            self._file.write(json.dumps(row) + "\n")
        except OSError:
            self._close_file(quiet=True)
            raise
        if self._tb is not None:
            scalars = {
                k: v
                for k, v in row.items()
                if k != "env_step" and isinstance(v, float) and math.isfinite(v)
            }
            try:
                self._tb.write(int(row.get("env_step", 0)), scalars)
            except OSError as e:
                self._drop_tb(e)

    def close(self, quiet: bool = False) -> None:
        """Close the files (again: nothing). A failure closing ``metrics.jsonl`` is raised
        unless ``quiet`` (closing after another error); TensorBoard's is reported."""
        if self._tb is not None:
            try:
                self._tb.close()
                self._tb = None
            except OSError as e:
                self._drop_tb(e)
        self._close_file(quiet)

    def _drop_tb(self, error: OSError) -> None:
        tb, self._tb = self._tb, None
        try:
            tb.close()
        except OSError:
            pass  # closed all the same; the error was the one reported
        report_dropped(self.run_dir, "TensorBoard", error)

    def _close_file(self, quiet: bool) -> None:
        if self._file.closed:
            return
        try:
            self._file.close()
        except OSError:
            if not quiet:
                raise


def _rows(path: Path) -> list[dict]:
    rows = []
    for line in path.read_text(errors="replace").splitlines():
        try:
            rows.append(json.loads(line))
        except json.JSONDecodeError:
            continue  # a line cut short by a kill or a full disk
    return [r for r in rows if isinstance(r, dict)]


def read_metrics(run_dir: str | Path) -> list[dict]:
    """The rows of a run's ``metrics.jsonl`` ([] without one), skipping damaged lines."""
    path = Path(run_dir) / "metrics.jsonl"
    return _rows(path) if path.is_file() else []


def training_seconds(rows: list[dict], until: int | None = None) -> float:
    """A run's training wall clock from its ``metrics.jsonl`` rows (up to env step
    ``until``): each training row's rate covers the env steps since the row before it,
    so the downtime of an interruption, and evaluation time, are not counted."""
    wall, last = 0.0, 0
    for r in rows:
        if "perf/env_steps_per_s" not in r:
            continue
        step, sps = int(r["env_step"]), r["perf/env_steps_per_s"]
        if until is not None and step > until:
            break
        if step > last and sps > 0:
            wall += (step - last) / sps
        last = step
    return wall
