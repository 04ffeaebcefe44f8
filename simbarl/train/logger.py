"""Run-directory logging: ``metrics.jsonl`` (one JSON object a line) and TensorBoard."""

from __future__ import annotations

import json
import math
from pathlib import Path


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
            # Drop rows the killed run wrote after its last checkpoint: they are redone.
            rows = [r for r in self.path.read_text().splitlines() if r.strip()]
            keep = [r for r in rows if json.loads(r).get("env_step", 0) <= resume_env_step]
            self.path.write_text("".join(r + "\n" for r in keep))
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


def read_metrics(run_dir: str | Path) -> list[dict]:
    path = Path(run_dir) / "metrics.jsonl"
    return [json.loads(r) for r in path.read_text().splitlines() if r.strip()]
