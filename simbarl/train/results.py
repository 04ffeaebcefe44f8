"""What a training run reports: its result, and its training rows in ``metrics.jsonl``.

Shared by the host and the device loop (and ``--vmap-seeds`` groups of either).
"""

from __future__ import annotations

import dataclasses
import time
from pathlib import Path

import jax
import numpy as np

from simbarl.agents.actor_critic import reported_metrics
from simbarl.train.seeds import Seat, Seeds


@dataclasses.dataclass
class RunResult:
    """What ``simbarl.train`` returns when a run ends (its budget, a stop or a pause)."""

    run_dir: Path
    """The run directory: config, checkpoint and ``metrics.jsonl`` (with
    ``--vmap-seeds``, the group's directory holding ``seed<k>`` runs)."""
    env_step: int
    """Environment steps trained when the run ended."""
    eval_returns: list[tuple[int, float]]
    """``(env_step, mean return)`` of each evaluation, in order (a group's: the mean
    over its seeds)."""
    interrupted: bool = False
    """True when the run stopped before its budget (a signal, a callback, ``--pause-at``);
    ``simbarl train --resume RUN_DIR`` continues it."""
    seeds: list[RunResult] = dataclasses.field(default_factory=list)
    """With ``--vmap-seeds N``: each seed's own result; otherwise empty."""


def gather_results(seats, seeds: Seeds, group_dir, env_step: int, interrupted: bool) -> RunResult:
    """One seed's result, or a group's with the mean evaluations."""
    results = [RunResult(s.run_dir, s.loop.env_step, s.eval_returns, interrupted) for s in seats]
    if seeds.n == 1:
        return results[0]
    mean_returns = [
        (step, float(np.mean([r.eval_returns[i][1] for r in results])))
        for i, (step, _) in enumerate(results[0].eval_returns)
    ]
    return RunResult(group_dir, env_step, mean_returns, interrupted, results)


def log_train(seat: Seat, progress, metrics, updates: int) -> dict:
    """Write a training row for ``seat`` (rates since its last one); return the row."""
    loop, now = seat.loop, time.time()
    t0, step0, updates0 = seat.last_log
    row = {"env_step": loop.env_step, "agent_step": loop.agent_step}
    row.update({f"train/{k}": v for k, v in reported_metrics(metrics).items()})
    if seat.recent_returns:
        row["train/episode_return"] = float(np.mean(seat.recent_returns))
    dt = max(now - t0, 1e-9)
    row["perf/env_steps_per_s"] = (loop.env_step - step0) / dt
    row["perf/updates_per_s"] = (updates - updates0) / dt
    row["perf/updates"] = updates
    seat.log(row)
    progress.set_rates(row["perf/env_steps_per_s"], row["perf/updates_per_s"])
    seat.last_log = (now, loop.env_step, updates)
    return row


def log_dynamics(seats, seeds: Seeds, probe_fn, *args) -> None:
    """One ``dynamics/...`` row per seed from ``probe_fn(*args)``, a probe's (seed-stacked)
    metrics; ``perf/probe_s`` is the probe's wall time (its first call compiles unless it was
    compiled ahead, ``probe.AheadProbe``)."""
    t0 = time.time()
    metrics = jax.device_get(probe_fn(*args))
    seconds = time.time() - t0
    for k, seat in enumerate(seats):
        row = {"env_step": seat.loop.env_step, "agent_step": seat.loop.agent_step}
        row.update({f"dynamics/{name}": float(v) for name, v in seeds.take(metrics, k).items()})
        row["perf/probe_s"] = seconds
        seat.log(row)
