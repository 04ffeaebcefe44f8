"""The host loop's one jitted call per agent step: insert, learn, act.

Fusing the replay insert, the ``utd`` scanned updates and the next action
into one donated call keeps the loop to a single dispatch per agent step,
which is what lets small networks run near the machine's arithmetic limit.
With ``--overlap`` the step is two calls instead (``make_overlap_fns``): the
updates, dispatched before the envs step, then the insert and the action.
"""

from __future__ import annotations

import dataclasses
from functools import partial

import jax
import jax.numpy as jnp

from simbarl.agents import ActorCritic, Batch, LearnerState
from simbarl.config import ReplayConfig
from simbarl.normalizers import Normalization, normalize_obs
from simbarl.replay import ReplayBuffer, Transition, add
from simbarl.replay import prioritized as per
from simbarl.replay.buffer import gather, uniform_indices
from simbarl.replay.n_step import n_step_at
from simbarl.replay.recency import recency_indices
from simbarl.runs.learner import policy


def prepare(tr: Transition, norm: Normalization, horizon=None, weight=None) -> Batch:
    """Raw sampled transitions -> loss inputs (normalized obs, scaled reward)."""
    return Batch(
        obs=normalize_obs(tr.obs, norm),
        action=tr.action,
        reward=tr.reward / norm.reward_scale,
        next_obs=normalize_obs(tr.next_obs, norm),
        terminated=tr.terminated,
        horizon=horizon,
        truncated=None if horizon is None else tr.truncated,
        weight=weight,
    )


def draw(buffer: ReplayBuffer, key, shape, replay: ReplayConfig, gamma: float, stride: int, beta):
    """Sample ``shape`` transitions: uniform, prioritized or recency-weighted, one- or n-step.

    Returns ``(transitions, horizon or None, idx, importance weight or None)``.
    ``stride``: slots between an env's consecutive transitions (the env count).
    A recency-drawn slot whose n-step window runs past the newest data is cut there
    by ``n_step_at``, as a uniformly drawn one is.
    """
    weight = None
    if buffer.prioritized:
        idx, weight = per.sample(buffer.priorities, key, shape, buffer.size, beta)
    elif replay.recency_decay_steps > 0:
        idx = recency_indices(
            buffer, key, shape, replay.recency_decay_steps, replay.recency_min_weight
        )
    else:
        idx = uniform_indices(buffer, key, shape)
    if replay.n_step > 1:
        tr, horizon = n_step_at(buffer, idx, replay.n_step, gamma, stride)
        return tr, horizon, idx, weight
    return gather(buffer, idx), None, idx, weight


def draw_mixed(buffer, dataset, ratio: float, key, shape, replay, gamma, stride, beta):
    """``draw`` with ``round(ratio * batch)`` of each batch (the last rows) taken
    from ``dataset``, a fixed buffer laid out episode after episode (stride 1);
    ``dataset`` ``()``: all from ``buffer``. ``idx`` covers the ``buffer`` rows.
    The dataset is drawn uniformly: its write order is not an age."""
    utd, batch = shape
    from_data = 0
    if isinstance(dataset, ReplayBuffer):
        from_data = min(round(ratio * batch), batch - 1)
    tr, horizon, idx, weight = draw(
        buffer, key, (utd, batch - from_data), replay, gamma, stride, beta
    )
    if from_data:
        k_data = jax.random.fold_in(key, 1)
        uniform = dataclasses.replace(replay, recency_decay_steps=0)
        old, old_horizon, _, _ = draw(dataset, k_data, (utd, from_data), uniform, gamma, 1, beta)
        join = lambda a, b: jnp.concatenate([a, b], axis=1)
        tr = jax.tree.map(join, tr, old)
        horizon = None if horizon is None else join(horizon, old_horizon)
    return tr, horizon, idx, weight


def act(
    agent: ActorCritic,
    learner: LearnerState,
    obs,
    norm: Normalization,
    noise,
    reset,
    *,
    explore: bool,
    random: bool,
):
    """Next action for ``obs`` (n, obs_dim): uniform random, exploring or deterministic.

    ``noise`` is the exploration-noise state and ``reset`` (n,) marks envs that
    start a new episode. Returns ``(learner with a new key, action, noise)``.
    """
    key, k_act = jax.random.split(learner.key)
    if random:
        action = jax.random.uniform(k_act, (obs.shape[0], agent.action_dim), minval=-1, maxval=1)
    elif explore:
        action, noise = agent.explore(learner.actor, normalize_obs(obs, norm), k_act, noise, reset)
    else:
        action = policy(agent, learner.actor, obs, norm)
    return learner.replace(key=key), action, noise


def learn_on(
    agent: ActorCritic,
    learner: LearnerState,
    buffer: ReplayBuffer,
    norm: Normalization,
    dataset=(),
    *,
    utd: int,
    batch_size: int,
    replay: ReplayConfig,
    num_envs: int,
    dataset_ratio: float = 0.0,
    shard_batch=None,
):
    """``utd`` updates on batches drawn from ``buffer`` (and ``dataset``).

    ``shard_batch``: lays out the drawn ``(utd, batch, ...)`` arrays over several
    devices (``sharding.DataParallel.constrain_batch``), or None on one device.
    Returns ``(learner, metrics, td, idx)``: the per-sample |TD error| ``(utd, batch)``
    and the buffer rows it belongs to, for ``reprioritize``.
    """
    key, k_sample = jax.random.split(learner.key)
    progress = jnp.minimum(learner.step / max(agent.total_updates, 1), 1.0)
    beta = replay.importance_exponent + (1.0 - replay.importance_exponent) * progress
    tr, horizon, idx, weight = draw_mixed(
        buffer,
        dataset,
        dataset_ratio,
        k_sample,
        (utd, batch_size),
        replay,
        agent.discount,
        num_envs,
        beta,
    )
    if shard_batch is not None:  # each device computes the losses of its share
        tr, horizon, weight = shard_batch((tr, horizon, weight))
    batches = prepare(tr, norm, horizon, weight)
    learner, metrics, td = agent.learn(learner.replace(key=key), batches)
    return learner, metrics, td, idx


def reprioritize(buffer: ReplayBuffer, idx, td, replay: ReplayConfig) -> ReplayBuffer:
    """Prioritized replay: new priorities ``(|td| + eps)^alpha`` at ``idx``; else ``buffer``."""
    if not buffer.prioritized:
        return buffer
    priority = (td + replay.priority_eps) ** replay.priority_exponent
    return buffer.replace(priorities=per.set_priorities(buffer.priorities, idx, priority))


def train_step(
    agent: ActorCritic,
    learner: LearnerState,
    buffer: ReplayBuffer,
    transition: Transition,
    next_obs,
    norm: Normalization,
    noise,
    reset,
    dataset=(),
    *,
    utd: int,
    batch_size: int,
    replay: ReplayConfig,
    num_envs: int,
    learn: bool,
    dataset_ratio: float = 0.0,
    random_warmup: bool = True,
    shard_batch=None,
):
    """Insert ``transition``, run ``utd`` updates if ``learn``, act on ``next_obs``.

    ``dataset``: a fixed buffer (an offline dataset, stride 1) from which
    ``dataset_ratio`` of every batch is drawn, or ``()``. Before learning starts
    the actions are uniform random, or the policy's if not ``random_warmup``.
    ``shard_batch``: see ``learn_on``. Returns ``(learner, buffer, action, noise, metrics)``.
    """
    buffer = add(buffer, transition)
    metrics = {}
    if learn:
        learner, buffer, metrics = learn_phase(
            agent,
            learner,
            buffer,
            norm,
            dataset,
            utd=utd,
            batch_size=batch_size,
            replay=replay,
            num_envs=num_envs,
            dataset_ratio=dataset_ratio,
            shard_batch=shard_batch,
        )
    learner, action, noise = act(
        agent,
        learner,
        next_obs,
        norm,
        noise,
        reset,
        explore=True,
        random=random_warmup and not learn,
    )
    return learner, buffer, action, noise, metrics


def learn_settings(cfg, stride: int | None = None) -> dict:
    """``learn_on``'s keywords from a TrainConfig: UTD, batch, replay, env count and
    dataset share. ``stride``: slots between an env's consecutive transitions in the
    buffer when it is not ``cfg.num_envs`` (a buffer shared by several members,
    ``simbarl evolve``)."""
    return dict(
        utd=cfg.updates_per_step,
        batch_size=cfg.batch_size,
        replay=cfg.replay,
        num_envs=stride or cfg.num_envs,
        dataset_ratio=cfg.init_data_ratio,
    )


def configured_step(agent: ActorCritic, cfg, stride: int | None = None):
    """``train_step`` with a TrainConfig's ``learn_settings`` bound (``stride``: there)."""
    return partial(
        train_step, agent, **learn_settings(cfg, stride), random_warmup=cfg.init_from is None
    )


def make_step_fns(agent: ActorCritic, cfg, stride: int | None = None):
    """Jitted ``train_step`` (learner and buffer donated) and ``act`` for a TrainConfig.

    With ``cfg.vmap_seeds > 1`` both map over a leading seed axis of every argument.
    ``stride``: see ``configured_step``.
    """
    step = configured_step(agent, cfg, stride)
    act_fn = partial(act, agent)
    if cfg.vmap_seeds > 1:
        step_one, act_one = step, act_fn
        # the dataset (last argument) is shared by the seeds
        axes = (0,) * 7 + (None,)
        step = lambda *args, learn: jax.vmap(partial(step_one, learn=learn), axes)(*args)
        act_fn = lambda *args, explore, random: jax.vmap(
            partial(act_one, explore=explore, random=random)
        )(*args)
    step_fn = jax.jit(step, static_argnames="learn", donate_argnums=(0, 1))
    return step_fn, jax.jit(act_fn, static_argnames=("explore", "random"))


def learn_phase(agent: ActorCritic, learner, buffer, norm, dataset=(), **learn_kw):
    """The overlapped host loop's first call of an agent step: ``utd`` updates on the
    replay as it stands (``learn_on``, then ``reprioritize``). Returns
    ``(learner, buffer, metrics)``."""
    learner, metrics, td, idx = learn_on(agent, learner, buffer, norm, dataset, **learn_kw)
    return learner, reprioritize(buffer, idx, td, learn_kw["replay"]), metrics


def insert_and_act(agent, learner, buffer, transition, next_obs, norm, noise, reset, *, random):
    """Its second call, once the envs have stepped: insert ``transition`` and act on
    ``next_obs``. Returns ``(learner, buffer, action, noise)``."""
    learner, action, noise = act(
        agent, learner, next_obs, norm, noise, reset, explore=True, random=random
    )
    return learner, add(buffer, transition), action, noise


def make_overlap_fns(agent: ActorCritic, cfg, stride: int | None = None):
    """Jitted ``learn_phase`` and ``insert_and_act`` for a TrainConfig (learner and
    buffer donated; over a leading seed axis with ``cfg.vmap_seeds > 1``).

    The host loop with ``--overlap`` calls the first before it steps the envs and the
    second after: the updates run on the device while the host simulates (JAX
    dispatches asynchronously); the second call, and so the next action, follows the
    updates on the device. So an update does not see the vector step being simulated
    beside it (it is in the next one's replay), and the actions come from the updated
    networks.
    """
    learn = partial(learn_phase, agent, **learn_settings(cfg, stride))
    insert = partial(insert_and_act, agent)
    if cfg.vmap_seeds > 1:
        learn_one, insert_one = learn, insert
        learn = jax.vmap(learn_one, (0, 0, 0, None))  # the dataset is shared by the seeds
        insert = lambda *args, random: jax.vmap(partial(insert_one, random=random))(*args)
    return (
        jax.jit(learn, donate_argnums=(0, 1)),
        jax.jit(insert, static_argnames="random", donate_argnums=(0, 1)),
    )
