"""The side-by-side drivers' shared steps (``sbx_throughput.py``, ``flashsac_throughput.py``):
every measurement is a fresh worker process whose last line of output is its JSON row,
the sides alternate round by round (A then B, then B then A, ...) so that a load that
drifts during the run falls on both, and each side is summarized by its best round (the
least disturbed) with its median beside it. The drivers run in simbarl's interpreter,
the workers in whichever one a side needs."""

from __future__ import annotations

import json
import statistics
import subprocess
import sys
from collections.abc import Iterator, Sequence
from pathlib import Path

if str(Path(__file__).resolve().parents[1]) not in sys.path:  # benchmarks/, for machine.py
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from machine import machine_meta  # noqa: E402,F401  (the drivers' meta, re-exported)


def run_worker(cmd: Sequence[str], side: str) -> dict:
    """Run one measurement process; its last line of output is its JSON row. A failed
    worker stops the run with the command and the end of its stderr."""
    out = subprocess.run(list(cmd), capture_output=True, text=True)
    if out.returncode != 0:
        sys.exit(f"{side} ({' '.join(cmd)}) failed:\n{out.stderr[-3000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def alternating(sides: Sequence[str], rounds: int) -> Iterator[tuple[int, str]]:
    """``(round, side)`` in measurement order: the sides in order on even rounds and
    reversed on odd ones."""
    for r in range(rounds):
        for side in sides if r % 2 == 0 else sides[::-1]:
            yield r, side


def best_and_median(rates: Sequence[float]) -> tuple[float, float]:
    """A side's best and median round."""
    return max(rates), statistics.median(rates)


def write_json(path: str | None, data: dict) -> None:
    """Write the results so far to ``path`` (if given) in one piece, its folder made as
    needed: a run stopped mid-write leaves the previous file."""
    from simbarl.files import atomic_open  # the drivers run in simbarl's interpreter

    if path:
        with atomic_open(path) as f:
            json.dump(data, f, indent=2)
