"""Replay size in bytes, checked against the memory of the device that will hold it.

A replay buffer sized in transitions can exceed an accelerator's memory by a
wide margin (4096 envs x 1000 steps x 2 observations); allocating it would
fail deep inside XLA with an opaque out-of-memory error, or, on a CPU, swap.
"""

from __future__ import annotations

import os

import jax
import numpy as np

HEADROOM = 0.8  # leave a fifth of the free memory to networks, batches and XLA


def replay_bytes(
    capacity: int, obs_dim: int, action_dim: int, obs_dtype: str = "float32", prioritized=False
) -> int:
    """Bytes of a buffer: two observations, action, reward and two flags per slot."""
    obs = 2 * obs_dim * np.dtype(jax.numpy.dtype(obs_dtype)).itemsize
    per_slot = obs + 4 * (action_dim + 3)
    tree = 2 * 4 * 2 * capacity if prioritized else 0  # sum tree of ~2x capacity floats
    return capacity * per_slot + tree


def free_bytes(device=None) -> int | None:
    """Free memory of ``device`` (default: JAX's first), or None when unknown."""
    device = device or jax.local_devices()[0]
    stats = None
    try:
        stats = device.memory_stats()
    except Exception:  # some backends do not report memory
        stats = None
    if stats and "bytes_limit" in stats:
        return int(stats["bytes_limit"]) - int(stats.get("bytes_in_use", 0))
    if device.platform == "cpu":
        return _host_available()
    return None


def _host_available() -> int | None:
    """Linux's MemAvailable (free plus reclaimable cache), else free pages."""
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    try:
        return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (ValueError, OSError, AttributeError):
        return None


def check_replay_fits(nbytes: int, copies: int = 1, device=None) -> None:
    """Fail before allocation when ``copies`` buffers of ``nbytes`` cannot fit."""
    free = free_bytes(device)
    need = nbytes * copies
    if free is None or need <= HEADROOM * free:
        return
    gib = lambda b: f"{b / 2**30:.2f} GiB"
    raise ValueError(
        f"the replay buffer needs {gib(need)} but the device has {gib(free)} free "
        f"(at most {HEADROOM:.0%} of it may go to replay). Lower --buffer-size, or store "
        "observations in bfloat16 with --replay.obs-dtype bfloat16."
    )
