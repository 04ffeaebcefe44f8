"""Run-directory logging: ``metrics.jsonl`` (one JSON object a line) and TensorBoard."""

from __future__ import annotations

import json
import math
from pathlib import Path

from simbarl.files import atomic_open


class Logger:
    """Writes rows to ``metrics.jsonl``, TensorBoard and, when given, a W&B ``sink``."""

    def __init__(
        self,
        run_dir: Path,
        tensorboard: bool = True,
        resume_env_step: int | None = None,
        sink=None,
    ):
        self.path = run_dir / "metrics.jsonl"
        if resume_env_step is not None and self.path.exists():
            # Drop rows the killed run wrote after its last checkpoint (they are redone)
            # and a last line cut short by a kill or a full disk.
            keep = [r for r in _rows(self.path) if r.get("env_step", 0) <= resume_env_step]
            with atomic_open(self.path) as f:
                f.write("".join(json.dumps(r) + "\n" for r in keep))
        self._file = open(self.path, "a", buffering=1)
        self._tb, self._sink = None, sink
        if tensorboard:
            from tensorboardX import SummaryWriter

            self._tb = SummaryWriter(str(run_dir / "tb"))

    def log(self, row: dict) -> None:
        row = {k: (float(v) if not isinstance(v, (int, str)) else v) for k, v in row.items()}
        self._file.write(json.dumps(row) + "\n")
        if self._tb is not None:
            step = int(row.get("env_step", 0))
            for k, v in row.items():
                if k != "env_step" and isinstance(v, float) and math.isfinite(v):
                    self._tb.add_scalar(k, v, step)
        if self._sink is not None:
            self._sink.log(row)

    def close(self) -> None:
        self._file.close()
        if self._tb is not None:
            self._tb.close()
        if self._sink is not None:
            self._sink.close()


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
