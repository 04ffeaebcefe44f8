"""A trained agent loaded from a run directory, for acting and evaluation."""

from __future__ import annotations

from functools import partial
from pathlib import Path

import jax
import numpy as np

from simbarl.config import action_bounds
from simbarl.envs.bounds import task_bounds
from simbarl.runs import checkpoint
from simbarl.runs import run_dir as rd
from simbarl.runs.finite import non_finite_arrays
from simbarl.runs.learner import (
    build_agent,
    fresh_loop,
    leading_normalization,
    normalization,
    policy,
)
from simbarl.runs.loop_state import COUNTERS
from simbarl.runs.policy_file import Policy, describe


class Agent:
    """``act(obs)`` with the run's policy and its observation statistics.

    Observations are raw env observations, one ``(obs_dim,)`` or a batch
    ``(n, obs_dim)``; actions are in ``[-1, 1]`` (the env made by ``make_env``
    rescales them to the task's bounds), or with ``env_units=True`` already in the
    task's units (``bounds``), for the raw simulator or a robot.

    Attributes:
        run_dir: The run directory the agent was loaded from.
        config: The run's resolved ``TrainConfig``.
        bounds: ``(low, high)`` float32 arrays, the task's action bounds that
            ``act(obs, env_units=True)`` maps ``[-1, 1]`` onto (the config's
            ``--action-low``/``--action-high`` where set).
        meta: The checkpoint's counters (``env_step`` and the like).
    """

    def __init__(self, run_dir: str | Path):
        self.run_dir = Path(run_dir)
        self.config = rd.load_config(self.run_dir)
        if self.config.vmap_seeds > 1:
            seeds = sorted(str(p) for p in self.run_dir.glob("seed*"))
            raise ValueError(
                f"{self.run_dir} holds {self.config.vmap_seeds} --vmap-seeds runs; "
                f"load one of them: {', '.join(seeds)}"
            )
        self.config, self.task = rd.resolve(self.config)
        path = self.run_dir / rd.CHECKPOINT_FILE
        if not path.is_file():
            raise ValueError(f"{self.run_dir} has no {rd.CHECKPOINT_FILE}: nothing to load")
        self._learner_def = build_agent(
            self.config,
            self.task.obs_dim,
            self.task.action_dim,
            actor_obs_dim=self.task.actor_obs_dim,
        )
        loop = fresh_loop(self.config, self.task.obs_dim, self.task.action_dim, self.config.seed)
        stats = {"obs_stats": loop.obs_stats, "reward_scaler": loop.reward_scaler}
        template = {"learner": self._learner_def.init(jax.random.PRNGKey(0)), "loop": stats}
        trees, self.meta = checkpoint.load(path, template, counts=COUNTERS)
        self.learner = trees["learner"]
        bad, total = non_finite_arrays(self.learner)
        if bad:
            raise ValueError(
                f"checkpoint {path} holds NaN or inf in {len(bad)} of {total} learner arrays: "
                "its training had diverged when it was saved. Train the run again with a "
                "lower learning rate"
            )
        self.obs_stats = stats = trees["loop"]["obs_stats"]
        self.reward_scaler = trees["loop"]["reward_scaler"]
        self.norm = normalization(self.config, stats, self.reward_scaler)
        self.bounds = task_bounds(self.config, self.task)  # (low, high) of env_units
        self._policy = jax.jit(partial(policy, self._learner_def))
        self._key = jax.random.PRNGKey(self.config.seed + 1)

    @property
    def env_step(self) -> int:
        """Environment steps the loaded checkpoint was trained for."""
        return int(self.meta["env_step"])

    def act(self, obs, deterministic: bool = True, env_units: bool = False) -> np.ndarray:
        """The policy's actions for ``obs``: the mode, or a sample (``deterministic=False``),
        in ``[-1, 1]`` or in the task's units (``env_units``)."""
        obs = np.asarray(obs, np.float32)
        single = obs.ndim == 1
        # the task's observation, or an asymmetric run's actor observation (the
        # privileged state's leading part)
        sizes = {self.task.obs_dim, self.task.actor_obs_dim or self.task.obs_dim}
        if obs.shape[-1] not in sizes:
            raise ValueError(
                f"observations of {obs.shape[-1]} entries; {self.run_dir}'s policy takes "
                f"{' or '.join(str(n) for n in sorted(sizes))}"
            )
        obs = obs.reshape(-1, obs.shape[-1])
        key, bounds = None, (self.bounds if env_units else None)
        if not deterministic:
            self._key, key = jax.random.split(self._key)
        action = self._policy(self.learner.actor, obs, self.norm, key, bounds)
        action = np.asarray(action)
        return action[0] if single else action

    def to_policy(self) -> Policy:
        """The policy alone (actor, normalization, bounds, config): what ``simbarl export
        --policy`` writes; its ``act(obs)`` equals ``act(obs, env_units=True)``. An
        asymmetric run's policy takes the actor's own observation (the state a robot
        has), not the privileged state the critics were trained on."""
        size, norm = self.task.obs_dim, self.norm
        if self.task.actor_obs_dim is not None and self.task.actor_obs_dim < size:
            size = self.task.actor_obs_dim
            norm = leading_normalization(norm, size)
        meta = describe(self.config, size, self.task.action_dim, self.env_step)
        return Policy(self.config, self.learner.actor, norm, self.bounds, meta)

    def make_env(self, render_mode: str | None = None):
        """The run's task as a Gymnasium env (its action repeat and action bounds),
        taking the ``[-1, 1]`` actions of ``act(obs)``; ``render_mode="rgb_array"``
        for frames."""
        from simbarl.envs.registry import make_env

        bounds = action_bounds(self.config)
        return make_env(self.config.env, self.config.action_repeat, render_mode, bounds)


def load_agent(run_dir: str | Path) -> Agent:
    """Load the latest checkpoint of a run directory."""
    return Agent(run_dir)
