"""Replay size in bytes, checked against the memory of the device that will hold it.

A replay buffer sized in transitions can exceed an accelerator's memory by a
wide margin (4096 envs x 1000 steps x 2 observations); allocating it would
fail deep inside XLA with an opaque out-of-memory error, or, on a CPU, swap.
"""

from __future__ import annotations

import os

import jax
import numpy as np

from simbarl.replay.prioritized import tree_leaves

HEADROOM = 0.8  # leave a fifth of the free memory to networks, batches and XLA
GIB = 2**30


def replay_bytes(
    capacity: int, obs_dim: int, action_dim: int, obs_dtype: str = "float32", prioritized=False
) -> int:
    """Bytes of the buffer ``init_replay`` allocates, exactly: per slot two observations
    (``obs_dtype``), the action, the reward and the two episode-end flags (float32); the
    ring's two int32 counters; with prioritized replay the sum tree (``2 P`` float32 sums,
    ``P`` the capacity rounded up to a power of two) and its maximum priority. n-step
    returns and recency weights are computed when sampling and store nothing."""
    obs = 2 * obs_dim * np.dtype(jax.numpy.dtype(obs_dtype)).itemsize
    per_slot = obs + 4 * (action_dim + 3)
    counters = 2 * 4
    tree = 4 * (2 * tree_leaves(capacity) + 1) if prioritized else 0
    return capacity * per_slot + counters + tree


def capacity_for_bytes(
    budget: int,
    obs_dim: int,
    action_dim: int,
    obs_dtype: str = "float32",
    prioritized: bool = False,
    multiple: int = 1,
    copies: int = 1,
) -> int:
    """The largest capacity, a multiple of ``multiple`` (the env count, so that the ring
    holds whole vector steps), whose ``copies`` buffers (one per vmapped seed) take at
    most ``budget`` bytes by ``replay_bytes``; 0 when not even ``multiple`` slots fit."""

    def fits(k: int) -> bool:
        size = replay_bytes(k * multiple, obs_dim, action_dim, obs_dtype, prioritized)
        return copies * size <= budget

    lo, hi = 0, budget // multiple + 1  # fits(lo); not fits(hi): a slot takes >= 1 byte
    while hi - lo > 1:  # replay_bytes grows with the capacity
        mid = (lo + hi) // 2
        lo, hi = (mid, hi) if fits(mid) else (lo, mid)
    return lo * multiple


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


def check_replay_fits(
    nbytes: int,
    copies: int = 1,
    device=None,
    advice: str = "Lower --buffer-size (or size it with --buffer-memory GIB)",
) -> None:
    """Fail before allocation when ``copies`` buffers of ``nbytes`` cannot fit; the
    message ends with ``advice`` (what to lower)."""
    free = free_bytes(device)
    need = nbytes * copies
    if free is None or need <= HEADROOM * free:
        return
    gib = lambda b: f"{b / GIB:.2f} GiB"
    raise ValueError(
        f"the replay buffer needs {gib(need)} but the device has {gib(free)} free "
        f"(at most {HEADROOM:.0%} of it, {gib(HEADROOM * free)}, may go to replay). "
        f"{advice}, or store observations in bfloat16 with --replay.obs-dtype bfloat16."
    )
