"""The host loop's one jitted call per agent step: insert, learn, act.

Fusing the replay insert, the ``utd`` scanned updates and the next action
into one donated call keeps the loop to a single dispatch per agent step,
which is what lets small networks run near the machine's arithmetic limit.
"""

from __future__ import annotations

from functools import partial

import jax
import jax.numpy as jnp
from flax import struct

from simbarl.agents import ActorCritic, Batch, LearnerState
from simbarl.replay import ReplayBuffer, Transition, add, sample


@struct.dataclass
class Normalization:
    """Float32 views of the host's float64 statistics, passed into each call."""

    obs_mean: jnp.ndarray  # (obs_dim,)
    obs_std: jnp.ndarray  # (obs_dim,) sqrt(var + 1e-8)
    reward_scale: jnp.ndarray  # () divisor of rewards


def prepare(tr: Transition, norm: Normalization) -> Batch:
    """Raw sampled transitions -> loss inputs (normalized obs, scaled reward)."""
    return Batch(
        obs=(tr.obs - norm.obs_mean) / norm.obs_std,
        action=tr.action,
        reward=tr.reward / norm.reward_scale,
        next_obs=(tr.next_obs - norm.obs_mean) / norm.obs_std,
        terminated=tr.terminated,
    )


def act(
    agent: ActorCritic,
    learner: LearnerState,
    obs,
    norm: Normalization,
    *,
    explore: bool,
    random: bool,
):
    """Next action for ``obs`` (n, obs_dim): uniform random, sampled or deterministic."""
    key, k_act = jax.random.split(learner.key)
    if random:
        action = jax.random.uniform(k_act, (obs.shape[0], agent.action_dim), minval=-1, maxval=1)
    else:
        obs_n = (obs - norm.obs_mean) / norm.obs_std
        action = agent.policy(learner.actor, obs_n, k_act if explore else None)
    return learner.replace(key=key), action


def train_step(
    agent: ActorCritic,
    learner: LearnerState,
    buffer: ReplayBuffer,
    transition: Transition,
    next_obs,
    norm: Normalization,
    *,
    utd: int,
    batch_size: int,
    learn: bool,
):
    """Insert ``transition``, run ``utd`` updates if ``learn``, act on ``next_obs``."""
    buffer = add(buffer, transition)
    metrics = {}
    if learn:
        key, k_sample = jax.random.split(learner.key)
        batches = prepare(sample(buffer, k_sample, (utd, batch_size)), norm)
        learner, metrics = agent._update_many(learner.replace(key=key), batches)
    learner, action = act(agent, learner, next_obs, norm, explore=True, random=not learn)
    return learner, buffer, action, metrics


def make_step_fns(agent: ActorCritic, utd: int, batch_size: int):
    """Jitted ``train_step`` (learner and buffer donated) and ``act``."""
    step = jax.jit(
        partial(train_step, agent, utd=utd, batch_size=batch_size),
        static_argnames="learn",
        donate_argnums=(0, 1),
    )
    act_fn = jax.jit(partial(act, agent), static_argnames=("explore", "random"))
    return step, act_fn
