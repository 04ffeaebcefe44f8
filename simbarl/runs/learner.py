"""A learner from a resolved config: what both training loops, ``simbarl eval``
and the offline trainer build the same way.

Nothing here runs a loop, so every loop (host ``online.py``, device
``device.py``, ``offline/trainer.py``) and the loaded ``Agent`` import it
without importing each other.
"""

from __future__ import annotations

import math

import jax
import numpy as np

from simbarl.agents import ALGORITHMS, ActorCritic
from simbarl.config import TrainConfig, num_critics
from simbarl.envs.bounds import to_bounds
from simbarl.normalizers import (
    EPS,
    Normalization,
    init_reward_scaler,
    init_stats,
    normalize_obs,
    reward_scale,
)
from simbarl.runs.loop_state import LoopState


def build_agent(
    cfg: TrainConfig,
    obs_dim: int,
    action_dim: int,
    total_updates: int | None = None,
    actor_obs_dim: int | None = None,
) -> ActorCritic:
    """The learner of ``cfg.algo`` for a resolved config (``run_dir.resolve``).

    ``total_updates``, the span of the learning-rate schedule, defaults to the
    online budget's updates; the offline engine counts its own. ``actor_obs_dim``:
    asymmetric observations, the actor reads the leading entries (``TaskSpec``)."""
    if total_updates is None:
        total_updates = updates_after(cfg, iterations_for(cfg))
    return ALGORITHMS[cfg.algo](
        cfg.agent,
        obs_dim,
        action_dim,
        discount=cfg.agent.discount,
        num_critics=num_critics(cfg.algo, cfg.agent),
        total_updates=total_updates,
        actor_obs_dim=actor_obs_dim,
        n_step=cfg.replay.n_step,
    )


def iterations_for(cfg: TrainConfig) -> int:
    """Loop iterations (each steps all envs once) to spend ``cfg.steps`` env steps."""
    return math.ceil(cfg.steps / (cfg.num_envs * cfg.action_repeat))


def replay_capacity(cfg: TrainConfig) -> int:
    """Slots of a new run's replay ring: ``buffer_size``, or fewer when the budget's
    transitions fit (a resumed run keeps the capacity its checkpoint records)."""
    return min(cfg.buffer_size, iterations_for(cfg) * cfg.num_envs)


def warmup_iterations(cfg: TrainConfig) -> int:
    """Loop iterations of random actions before the first update."""
    return math.ceil(cfg.warmup_steps / cfg.num_envs)


def updates_after(cfg: TrainConfig, iterations: int) -> int:
    """Updates made in the first ``iterations`` loop iterations (at least 1): UTD per
    iteration after the warm-up. Of ``iterations_for(cfg)``: the run's total, the span
    of its learning-rate schedule."""
    return max(iterations - warmup_iterations(cfg), 1) * cfg.updates_per_step


def normalization(cfg: TrainConfig, obs_stats, reward_scaler) -> Normalization:
    """Float32 normalization from the running statistics: numpy float64 on the host,
    jax float32 inside the device loop (array methods only, so both work)."""
    if cfg.agent.observation_norm:
        mean, std = obs_stats.mean, (obs_stats.var + EPS) ** 0.5
    else:
        mean, std = obs_stats.mean * 0, obs_stats.var * 0 + 1
    one = obs_stats.count * 0 + 1
    scale = reward_scale(reward_scaler, cfg.agent.g_max) if cfg.agent.reward_scaling else one
    return Normalization(
        obs_mean=mean.astype(np.float32),
        obs_std=std.astype(np.float32),
        reward_scale=(scale * one).astype(np.float32),
    )


def leading_normalization(norm: Normalization, size: int) -> Normalization:
    """``norm`` of the leading ``size`` observation entries: an asymmetric run's actor
    observation, the leading part of the privileged state."""
    return norm.replace(obs_mean=norm.obs_mean[:size], obs_std=norm.obs_std[:size])


def policy(agent: ActorCritic, actor, obs, norm: Normalization, key=None, bounds=None):
    """The policy: raw observations ``(n, obs_dim)`` -> actions in ``[-1, 1]``, or with
    ``bounds`` (``(low, high)``, ``envs.bounds.task_bounds``) in the task's units.

    Deterministic without ``key``, else a sample. An asymmetric run's policy takes
    the privileged state (the loops) or the actor's own observation, its leading part
    (``simbarl eval``, a loaded ``Agent``, an exported policy). Every loop's evaluation, the
    population engine, the loaded ``Agent`` and exported policies act through this
    one function; the env adapters map ``[-1, 1]`` to the bounds with the same
    ``to_bounds``."""
    if obs.shape[-1] == agent.actor_obs_dim < agent.obs_dim:  # an asymmetric run's actor
        norm = leading_normalization(norm, agent.actor_obs_dim)  # observation
    action = agent.policy(actor, normalize_obs(obs, norm), key)
    return action if bounds is None else to_bounds(action, *bounds)


def fresh_loop(cfg: TrainConfig, obs_dim: int, action_dim: int, seed: int) -> LoopState:
    """A new run's loop state: counters, RSNorm, reward scaler and exploration noise."""
    loop = LoopState.fresh(cfg.num_envs, obs_dim, action_dim)
    loop.obs_stats = init_stats((obs_dim,))
    algo = ALGORITHMS[cfg.algo]  # its return statistics and exploration-noise state
    loop.reward_scaler = init_reward_scaler(cfg.num_envs, merge=algo.return_statistics)
    noise_key = jax.random.fold_in(jax.random.PRNGKey(seed), 1)
    loop.noise = algo.init_noise(cfg.agent, noise_key, cfg.num_envs, action_dim)
    return loop
