"""What the benchmarks record about the machine they ran on, without jax or simbarl:
the peers' scripts in their own virtual environments (``peers/flashsac_learning.py``
runs in a torch venv) import it as well as simbarl's benchmarks (through
``throughput.py``, whose ``from throughput import cpu_name`` keeps working)."""

from __future__ import annotations

import platform
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
