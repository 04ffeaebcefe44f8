"""The device loop: env stepping, replay and updates in one jitted ``lax.scan``.

For JAX environments (MuJoCo Playground ``mjx:`` tasks, Brax's ``brax:`` tasks,
simbarl's ``jax:`` tasks) everything an agent step does stays on the accelerator: step N envs
(auto-reset keeping the true final observation), update the RSNorm statistics
and the reward scaler (float32 here), insert into a device-resident replay
ring, run the ``utd`` scanned updates and pick the next actions. The body is
the host loop's own ``train_step`` (same learner, same replay semantics, same
checkpoint format); a chunk of iterations is one ``lax.scan`` in one call, and
the host only logs, evaluates (also on the device, many parallel episodes),
checkpoints and draws the progress bar between chunks.

With ``--vmap-seeds N`` the whole chunk is vmapped over seeds: each seed has
its own envs, learner, replay and statistics, in one call.

Over several local devices (``--devices``, ``sharding.py``) the same program runs
with sharding constraints: the envs and the replay's rows split (``carry_specs``),
each batch split, the learner replicated. On one device none is added.

A checkpoint holds the envs' state (the batched env pytree, the observations
to act on, the counts of ended episodes not yet logged), so a resume continues
the episodes in flight and repeats the uninterrupted run to the last digit. A
checkpoint without it (an older simbarl's) restarts them and marks each env's
last stored step as truncated, as the host loop does.
"""

from __future__ import annotations

import functools
from functools import partial

import jax
import jax.numpy as jnp
import numpy as np
from flax import struct

from simbarl.config import TrainConfig, program_key
from simbarl.envs.bounds import task_bounds
from simbarl.envs.device_tasks import load_device_task
from simbarl.envs.vector_jax import VecEnv, VecState, run_episodes
from simbarl.normalizers import (
    RewardScaler,
    RunningStats,
    update_reward_scaler,
    update_stats,
)
from simbarl.replay import Transition
from simbarl.runs import run_dir as rd
from simbarl.runs.env_checkpoint import env_info, load_env
from simbarl.runs.learner import build_agent, normalization, policy
from simbarl.runs.loop_state import cut_episodes
from simbarl.train.engine import Engine, restart_warning
from simbarl.train.evaluate import EVAL_STREAM, EvalResult
from simbarl.train.seeds import Seeds
from simbarl.train.session import Session
from simbarl.train.sharding import DataParallel, device_count
from simbarl.train.step import act, configured_step
from simbarl.train.warm_start import dataset_buffer


@struct.dataclass
class Carry:
    """Everything one chunk reads and writes, for one seed (stacked for several)."""

    learner: object
    buffer: object
    env: VecState
    obs: jnp.ndarray  # (num_envs, obs_dim) observations the next actions are for
    action: jnp.ndarray  # (num_envs, action_dim) the chosen next actions
    noise: object
    obs_stats: RunningStats  # float32 on the device
    scaler: RewardScaler
    episode_return: jnp.ndarray  # (num_envs,) of the episodes in flight
    ended_sum: jnp.ndarray  # () returns of episodes ended since the last log
    ended_count: jnp.ndarray  # () int32 (a distinct buffer from ended_sum: both are donated)
    dataset: object = ()  # the --init-from run's dataset with --init-data-ratio, else ()


def vec_env(cfg: TrainConfig, task, num_envs: int) -> VecEnv:
    """The task's envs, mapping the agent's [-1, 1] onto --action-low/--action-high or
    the task's own bounds as the host loop does (``envs/bounds.py``); a task that
    takes [-1, 1] itself gets the actions as they are."""
    own = cfg.action_low is not None or bool(task.action_low)
    low, high = task_bounds(cfg, task) if own else (None, None)
    return VecEnv(
        task.env, num_envs, task.episode_length, cfg.action_repeat, low, high, task.obs_fn
    )


def carry_specs(dp: DataParallel, c: Carry, lead: int = 0) -> Carry:
    """Where a carry's arrays live over several devices: the envs' state and what is
    per env split along the env axis, the replay along its rows, the learner, the
    statistics and every key replicated. ``lead``: 1 for a seed-stacked carry."""
    per_env = partial(dp.per_env, lead=lead)
    env = c.env.replace(inner=per_env(c.env.inner), t=per_env(c.env.t))
    return Carry(
        dp.replicated(c.learner), dp.replay(c.buffer), env.replace(key=dp.replicated(env.key)),
        per_env(c.obs), per_env(c.action), per_env(c.noise), dp.replicated(c.obs_stats),
        per_env(c.scaler), per_env(c.episode_return), dp.replicated(c.ended_sum),
        dp.replicated(c.ended_count), dp.replicated(c.dataset),
    )  # fmt: skip


@functools.lru_cache(maxsize=4)
def device_fns(cfg: TrainConfig, n_seeds: int, devices: int = 1):
    """``(agent, begin, chunk, evaluate)`` for a resolved config, cached so that a
    resumed or repeated run in the same process reuses the compiled programs.
    ``devices``: local devices the loop splits over (``sharding.device_count``)."""
    task = load_device_task(cfg.env, cfg.mjx_impl, cfg.asymmetric_observation)
    agent = build_agent(cfg, task.obs_dim, task.action_dim, actor_obs_dim=task.actor_obs_dim)
    seeds = Seeds(n_seeds)
    dp = DataParallel(devices, cfg.num_envs, seeds.n > 1) if devices > 1 else None
    return (agent, *make_device_fns(agent, cfg, task, seeds, dp))


def make_device_fns(agent, cfg: TrainConfig, task, seeds: Seeds, dp: DataParallel | None = None):
    """Jitted ``(begin, chunk, evaluate)`` of the device loop for a resolved config;
    with ``dp``, split over its devices."""
    p = DevicePrograms(agent, cfg, task, seeds, dp)
    return (
        jax.jit(p.begin_all, static_argnames="random", donate_argnums=(0, 1)),
        jax.jit(p.chunk_all, static_argnames=("length", "learn"), donate_argnums=0),
        jax.jit(seeds.vmap(p.evaluate)),
    )


def masked_scan(step_fn, carry, active, length: int):
    """``length`` scanned calls of ``step_fn(carry) -> (carry, metrics)`` of which the
    first ``active`` (traced) run: one compiled length serves every chunk, a budget's
    last short one included. Returns the carry and the last run call's metrics."""
    skipped = jax.tree.map(jnp.zeros_like, jax.eval_shape(step_fn, carry)[1])

    def maybe(c, i):
        return jax.lax.cond(i < active, step_fn, lambda c: (c, skipped), c)

    carry, metrics = jax.lax.scan(maybe, carry, jnp.arange(length))
    return carry, jax.tree.map(lambda x: x[active - 1], metrics)


class DevicePrograms:
    """What the device loop compiles, for one resolved config and seed count."""

    def __init__(self, agent, cfg: TrainConfig, task, seeds: Seeds, dp: DataParallel | None):
        self.agent, self.cfg, self.seeds, self.dp = agent, cfg, seeds, dp
        self.venv = vec_env(cfg, task, cfg.num_envs)
        self.eval_env = vec_env(cfg, task, cfg.eval_episodes)
        self.step = configured_step(agent, cfg)
        if dp is not None:  # each device computes the losses of its share of a batch
            self.step = partial(self.step, shard_batch=dp.constrain_batch)

    def laid_out(self, carry: Carry) -> Carry:
        """``carry`` split over the devices (one seed's shapes); as it is on one device."""
        return carry if self.dp is None else self.dp.constrain(carry, carry_specs(self.dp, carry))

    def begin(self, learner, buffer, noise, stats, scaler, key, dataset, *, random):
        """Start fresh episodes in every env and choose their first actions."""
        cfg = self.cfg
        env, obs = self.venv.reset(key)
        stats = update_stats(stats, obs)
        scaler = scaler.replace(returns=scaler.returns * 0)
        norm = normalization(cfg, stats, scaler)
        ones = jnp.ones((cfg.num_envs,), jnp.float32)
        learner, action, noise = act(
            self.agent, learner, obs, norm, noise, ones, explore=True, random=random
        )
        ret, ended_sum, ended_count = ones * 0, jnp.zeros(()), jnp.zeros((), jnp.int32)
        parts = (env, obs, action, noise, stats, scaler, ret, ended_sum, ended_count, dataset)
        return self.laid_out(Carry(learner, buffer, *parts))

    def body(self, c: Carry, _, learn: bool):
        """One iteration: step the envs, update the statistics, insert, learn, act."""
        out = self.venv.step(c.env, c.action)
        done = jnp.maximum(out.terminated, out.truncated)
        scaler = update_reward_scaler(c.scaler, out.reward, done, self.cfg.agent.discount)
        stats = update_stats(c.obs_stats, out.final_obs)
        stats = update_stats(stats, out.obs, done)  # first observations of new episodes
        tr = Transition(c.obs, c.action, out.reward, out.final_obs, out.terminated, out.truncated)
        norm = normalization(self.cfg, stats, scaler)
        learner, buffer, action, noise, metrics = self.step(
            c.learner, c.buffer, tr, out.obs, norm, c.noise, done, c.dataset, learn=learn
        )
        ret = c.episode_return + out.reward
        ended_sum = c.ended_sum + (ret * done).sum()
        ended_count = c.ended_count + done.sum().astype(jnp.int32)
        parts = (out.state, out.obs, action, noise, stats, scaler, ret * (1.0 - done))
        carry = Carry(learner, buffer, *parts, ended_sum, ended_count, c.dataset)
        return self.laid_out(carry), metrics

    def chunk(self, carry: Carry, active, length: int, learn: bool):
        """``length`` scanned iterations of which the first ``active`` run."""
        return masked_scan(lambda c: self.body(c, None, learn=learn), carry, active, length)

    def evaluate(self, actor, stats, scaler, key):
        norm = normalization(self.cfg, stats, scaler)
        act_fn = lambda o: policy(self.agent, actor, o, norm)
        return run_episodes(self.eval_env, act_fn, key, self._eval_layout())

    def _eval_layout(self):
        """The evaluation episodes split over the devices, when they divide evenly."""
        dp, n = self.dp, self.cfg.eval_episodes
        if dp is None or n % dp.count:
            return None
        return lambda tree: dp.constrain(tree, dp.per_env(tree, num_envs=n))

    def chunk_all(self, carry, active, length, learn):
        return self.seeds.vmap(partial(self.chunk, active=active, length=length, learn=learn))(
            carry
        )

    def begin_all(self, learner, buffer, noise, stats, scaler, key, dataset, random):
        args = (learner, buffer, noise, stats, scaler, key, dataset)
        return self.seeds.vmap(partial(self.begin, random=random))(*args)


def float64_tree(tree):
    """``tree`` as float64 host arrays (the host's statistics, in checkpoints)."""
    return jax.tree.map(lambda x: np.asarray(x, np.float64), tree)


def float32_tree(tree):
    """``tree`` as float32 device arrays (the statistics the device loops carry)."""
    return jax.tree.map(lambda x: jnp.asarray(x, jnp.float32), tree)


def env_key(seed: int, iteration: int) -> jax.Array:
    """Key of the episodes begun at ``iteration`` (start or resume) of a seed."""
    return jax.random.fold_in(jax.random.fold_in(jax.random.PRNGKey(seed), 2), iteration)


def _env_tree(carry: Carry) -> dict:
    """What a checkpoint keeps of the envs: their state, the observations the next
    actions are for, and the returns of ended episodes not yet logged."""
    return {
        "state": carry.env,
        "obs": carry.obs,
        "ended_sum": carry.ended_sum,
        "ended_count": carry.ended_count,
    }


def _resumed_carry(shapes: Carry, stacked: list, saved: list, seats, seeds: Seeds) -> Carry:
    """The carry of a resume that continues the saved episodes: ``begin``'s, with
    the checkpoint's envs, actions and returns in place of new episodes."""
    learner, buffer, noise, stats, scaler, _, dataset = stacked
    envs = seeds.stack(saved)
    action = seeds.stack([s.loop.action for s in seats])
    episode_return = seeds.stack([s.loop.episode_return for s in seats])
    carry = Carry(
        learner, buffer, envs["state"], envs["obs"], action, noise, stats, scaler,
        episode_return, envs["ended_sum"], envs["ended_count"], dataset,
    )  # fmt: skip
    return jax.tree.map(lambda s, x: jnp.asarray(x, s.dtype), shapes, carry)


def eval_key(seed: int, round_index: int) -> jax.Array:
    """Key of a seed's evaluation episodes of round ``round_index``."""
    return jax.random.fold_in(jax.random.PRNGKey(seed + EVAL_STREAM), round_index)


class DeviceEngine(Engine):
    """The session's learner advanced by jitted chunks of env steps and updates."""

    def __init__(self, session: Session):
        self.session, self.cfg, self.seeds = session, session.cfg, session.seeds
        cfg, seeds = self.cfg, self.seeds
        count = device_count(cfg.devices, cfg.num_envs, cfg.batch_size)
        self.dp = DataParallel(count, cfg.num_envs, seeds.n > 1) if count > 1 else None
        if self.dp is not None:
            self.probe_layout = self._probe_layout
        agent, begin, chunk, evaluate = device_fns(program_key(cfg), cfg.vmap_seeds, count)
        self.agent = agent
        self._chunk, self._evaluate = chunk, evaluate
        opened = session.open(agent, self.dp)
        dataset = dataset_buffer(cfg, agent.obs_dim, agent.action_dim)  # copied per seed
        ckpts = [seat.run_dir / rd.CHECKPOINT_FILE for seat in session.seats]
        kinds = [(env_info(c) or {}).get("kind") for c in ckpts] if not session.fresh else []
        resumed = bool(kinds) and all(k == "device" for k in kinds)  # not the host loop's
        parts = []
        seated = zip(session.seats, opened.learners, opened.buffers, strict=True)
        for seat, learner, buffer in seated:
            loop = seat.loop
            if not session.fresh and not resumed:  # the envs restart their episodes
                buffer = cut_episodes(buffer, list(range(cfg.num_envs)), cfg.num_envs)
                restart_warning(seat.run_dir, cfg.env, cfg.num_envs)
            key = env_key(seat.cfg.seed, loop.iteration)
            stats = float32_tree(loop.obs_stats), float32_tree(loop.reward_scaler)
            parts.append((learner, buffer, loop.noise, *stats, key, dataset))
        del opened
        stacked = [seeds.stack(list(p)) for p in zip(*parts, strict=True)]
        del parts
        if resumed:  # the episodes in flight continue
            shapes = jax.eval_shape(partial(begin, random=False), *stacked)
            saved = [self._load_env(c, shapes) for c in ckpts]
            self.carry = self._placed(_resumed_carry(shapes, stacked, saved, session.seats, seeds))
        else:
            self.carry = begin(*stacked, random=session.random_actions)
        del stacked
        per_iter = cfg.num_envs * cfg.action_repeat
        self.chunk_iters = max(1, -(-min(cfg.log_every, cfg.eval_every) // per_iter))
        self.quiet = max(session.warmup_iterations - 1, 0)  # i learns once i + 1 >= warm-up
        # eager, as in the host loop: a jitted init with batched QR can deadlock XLA:CPU
        self.reset_fn = seeds.vmap(lambda s: agent.reset(s, cfg.reset_networks))
        self.norm_of = seeds.vmap(partial(normalization, cfg))
        self.metrics = {}

    @property
    def learner(self):
        return self.carry.learner

    def _placed(self, carry: Carry) -> Carry:
        """``carry`` split over the devices as the chunks hold it, after the host built
        or changed it (a resume re-splits the checkpoint's gathered arrays)."""
        if self.dp is None:
            return carry
        return self.dp.put(carry, carry_specs(self.dp, carry, lead=int(self.seeds.n > 1)))

    def _load_env(self, path, shapes: Carry) -> dict:
        """One seat's saved env state (``env_snapshot``), shaped as ``begin`` makes it."""
        n = self.seeds.n
        one = lambda s: np.zeros(s.shape[1:] if n > 1 else s.shape, s.dtype)
        return load_env(path, jax.tree.map(one, _env_tree(shapes)))[0]

    def env_snapshot(self, k: int):
        return _env_tree(self.seeds.take(self.carry, k)), {"kind": "device"}

    def advance(self, limit: int) -> int:
        """One chunk: at most ``limit`` iterations, never across the end of the warm-up."""
        iteration = self.session.main.iteration
        learn = iteration >= self.quiet
        if not learn:
            limit = min(limit, self.quiet - iteration)
        length = min(self.chunk_iters, limit)
        self.carry, metrics = self._chunk(self.carry, length, length=self.chunk_iters, learn=learn)
        self.metrics = metrics if learn else {}  # warm-up chunks do not update
        return length

    def evaluate(self) -> list[EvalResult]:
        seeds, seats, c = self.seeds, self.session.seats, self.carry
        keys = seeds.stack([eval_key(s.cfg.seed, s.loop.eval_round) for s in seats])
        returns, lengths = self._evaluate(c.learner.actor, c.obs_stats, c.scaler, keys)
        returns, lengths = np.asarray(returns), np.asarray(lengths)
        take = seeds.take
        return [EvalResult(take(returns, k), take(lengths, k), [], None) for k in range(len(seats))]

    def snapshot(self, k: int):
        one, loop = self.seeds.take(self.carry, k), self.session.seats[k].loop
        loop.obs_stats, loop.reward_scaler = float64_tree(one.obs_stats), float64_tree(one.scaler)
        loop.noise = one.noise
        loop.episode_return = np.asarray(one.episode_return, np.float64)
        return one.learner, one.buffer, one.action

    def collect_returns(self) -> None:
        sums, counts = np.asarray(self.carry.ended_sum), np.asarray(self.carry.ended_count)
        for k, seat in enumerate(self.session.seats):
            count = float(self.seeds.take(counts, k))
            seat.recent_returns = [float(self.seeds.take(sums, k)) / count] if count else []
        carry = self.carry.replace(
            ended_sum=jnp.zeros_like(self.carry.ended_sum),
            ended_count=jnp.zeros_like(self.carry.ended_count),
        )
        self.carry = self._placed(carry)

    def reset_networks(self) -> None:
        self.carry = self._placed(self.carry.replace(learner=self.reset_fn(self.carry.learner)))

    def probe_inputs(self) -> tuple:
        c = self.carry
        return c.learner, c.buffer, self.norm_of(c.obs_stats, c.scaler)

    def _probe_layout(self, shapes: tuple) -> tuple:
        """``probe_inputs``' shapes with the shardings the carry gives them, so that the
        probe compiled ahead takes the split replay as it is."""
        learner, buffer, norm = shapes
        dp = self.dp
        named = dp.named((dp.replicated(learner), dp.replay(buffer), dp.replicated(norm)))
        place = lambda s, sharding: jax.ShapeDtypeStruct(
            s.shape, s.dtype, sharding=sharding, weak_type=s.weak_type
        )
        return jax.tree.map(place, shapes, named)
