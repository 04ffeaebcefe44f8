"""Several seeds in one learner: per-seed trees stacked on a leading axis and vmapped.

``--vmap-seeds N`` trains seeds ``seed .. seed+N-1`` of one task in one process:
the learners, replay buffers and exploration noise are stacked and every
agent step is one jitted ``vmap`` call for all of them, which is how one GPU
gets used well by small networks. The host side stays per seed (a *seat*: its
envs, RSNorm statistics, reward scaler, counters, logger and run directory
``RUN/seed<k>``, a normal single-seed run directory that ``simbarl eval`` and
``--resume`` accept on its own).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from pathlib import Path
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from simbarl.config import TrainConfig
from simbarl.runs.loop_state import LoopState
from simbarl.runs.metrics import Logger
from simbarl.train.env_runner import EnvRunner


def stack(trees: list):
    """Trees stacked on a new leading axis (new device buffers, so donatable)."""
    return jax.tree.map(lambda *x: jnp.stack([jnp.asarray(v) for v in x]), *trees)


def unstack(tree, n: int) -> list:
    """The ``n`` slices of a tree stacked on its leading axis."""
    return [jax.tree.map(lambda x, k=k: x[k], tree) for k in range(n)]


class Seeds:
    """Stack per-seed trees (``n > 1``, vmapped) or pass the single seed's through."""

    def __init__(self, n: int):
        self.n = n

    def stack(self, trees: list):
        return trees[0] if self.n == 1 else stack(trees)

    def stack_host(self, arrays: list):
        """Host (numpy) inputs of one agent step, one per seed."""
        if self.n == 1:
            return arrays[0]
        return jax.tree.map(lambda *x: np.stack(x), *arrays)

    def take(self, tree, k: int):
        """Seed ``k``'s slice (of a numpy array: a writable view)."""
        return tree if self.n == 1 else jax.tree.map(lambda x: x[k], tree)

    def vmap(self, fn):
        return fn if self.n == 1 else jax.vmap(fn)

    def put(self, tree, k: int, value):
        """``tree`` with seed ``k``'s slice replaced by ``value``."""
        if self.n == 1:
            return value
        return jax.tree.map(lambda t, v: t.at[k].set(v), tree, value)

    def where(self, chosen: np.ndarray, new, old):
        """Per seed: ``new`` where ``chosen`` (a bool per seed), else ``old``."""
        if self.n == 1:
            return new if chosen[0] else old
        c = jnp.asarray(chosen).reshape((-1,) + (1,) * (jnp.ndim(new) - 1))
        return jnp.where(c, new, old)


@dataclasses.dataclass
class Seat:
    """The host side of one seed."""

    cfg: TrainConfig
    run_dir: Path
    runner: EnvRunner
    eval_env: Any
    loop: LoopState
    obs: np.ndarray | None = None
    logger: Logger | None = None
    eval_returns: list = dataclasses.field(default_factory=list)
    recent_returns: list = dataclasses.field(default_factory=list)
    last_log: tuple = ()
    on_row: Callable[[Path, dict], None] | None = None  # told of each row logged

    def log(self, row: dict) -> None:
        """Write ``row`` to this seat's ``metrics.jsonl`` (and TensorBoard); then tell
        ``on_row`` (the session, which hands it to the callbacks)."""
        self.logger.log(row)
        if self.on_row is not None:
            self.on_row(self.run_dir, row)

    def record_eval(self, result) -> None:
        """Log an evaluation (an ``EvalResult``) at this seat's step; start a new round."""
        self.loop.eval_round += 1
        row = {"env_step": self.loop.env_step, "agent_step": self.loop.agent_step}
        row.update(result.metrics())
        self.log(row)
        self.eval_returns.append((self.loop.env_step, row["eval/return"]))


def seat_configs(cfg: TrainConfig, run_dir: Path) -> list[TrainConfig]:
    """One single-seed config per seed, each with its own run directory."""
    if cfg.vmap_seeds == 1:
        return [dataclasses.replace(cfg, run_dir=str(run_dir))]
    return [
        dataclasses.replace(
            cfg, seed=cfg.seed + k, vmap_seeds=1, run_dir=str(run_dir / f"seed{cfg.seed + k}")
        )
        for k in range(cfg.vmap_seeds)
    ]
