"""What the benchmarks record about the machine they ran on, without jax or simbarl:
the peers' scripts in their own virtual environments (``peers/flashsac_learning.py``
runs in a torch venv) import it as well as simbarl's benchmarks (through
``throughput.py``, whose ``from throughput import cpu_name`` keeps working)."""

from __future__ import annotations

import os
import platform
import time
from pathlib import Path


def cpu_name() -> str:
    """The CPU's model name (``/proc/cpuinfo``), or what ``platform`` knows."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def machine_meta(**fields) -> dict:
    """A result file's ``meta``: the machine, then ``fields``, then the date (UTC)."""
    return {
        "machine": platform.processor() or platform.machine(),
        "cpu": cpu_name(),
        "cpus": os.cpu_count(),
        **fields,
        "date_utc": time.strftime("%Y-%m-%d %H:%M", time.gmtime()),
    }
