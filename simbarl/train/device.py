"""The device loop: env stepping, replay and updates in one jitted ``lax.scan``.

For JAX environments (MuJoCo Playground ``mjx:`` tasks, simbarl's ``jax:``
tasks) everything an agent step does stays on the accelerator: step N envs
(auto-reset keeping the true final observation), update the RSNorm statistics
and the reward scaler (float32 here), insert into a device-resident replay
ring, run the ``utd`` scanned updates and pick the next actions. The body is
the host loop's own ``train_step`` (same learner, same replay semantics, same
checkpoint format); a chunk of iterations is one ``lax.scan`` in one call, and
the host only logs, evaluates (also on the device, many parallel episodes),
checkpoints and draws the progress bar between chunks.

With ``--vmap-seeds N`` the whole chunk is vmapped over seeds: each seed has
its own envs, learner, replay and statistics, in one call.

Resuming restarts the envs' episodes (their simulator state is not saved) and
marks each env's last stored step as truncated, as the host loop does.
"""

from __future__ import annotations

import dataclasses
import functools
import time
from functools import partial
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
from flax import struct

from simbarl.config import TrainConfig, program_key
from simbarl.envs.device_tasks import load_device_task
from simbarl.envs.vector_jax import VecEnv, VecState, run_episodes
from simbarl.normalizers import (
    RewardScaler,
    RunningStats,
    update_reward_scaler,
    update_stats,
)
from simbarl.replay import Transition, init_replay
from simbarl.replay.memory import check_replay_fits, replay_bytes
from simbarl.runs import run_dir as rd
from simbarl.runs.checkpoint import read_meta
from simbarl.runs.finite import check_finite
from simbarl.runs.learner import build_agent, iterations_for, normalization, warmup_iterations
from simbarl.runs.lock import RunLocks
from simbarl.runs.loop_state import cut_episodes, load_loop, save_loop
from simbarl.runs.metrics import Logger
from simbarl.train.evaluate import EVAL_STREAM, EvalResult
from simbarl.train.probe import make_probe_fn
from simbarl.train.progress import Progress
from simbarl.train.results import RunResult, gather_results, log_dynamics, log_train
from simbarl.train.seeds import OnEval, Seat, Seeds, seat_configs, target_reached
from simbarl.train.step import act, configured_step
from simbarl.train.stop import StopFlag
from simbarl.train.wandb_sink import wandb_sink
from simbarl.train.warm_start import dataset_buffer, start


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


def _vec_env(cfg: TrainConfig, task, num_envs: int) -> VecEnv:
    bounds = rd.action_bounds(cfg)
    low, high = bounds if bounds is not None else (None, None)
    return VecEnv(
        task.env, num_envs, task.episode_length, cfg.action_repeat, low, high, task.obs_fn
    )


@functools.lru_cache(maxsize=4)
def device_fns(cfg: TrainConfig, n_seeds: int):
    """``(agent, begin, chunk, evaluate)`` for a resolved config, cached so that a
    resumed or repeated run in the same process reuses the compiled programs."""
    task = load_device_task(cfg.env, cfg.mjx_impl)
    agent = build_agent(cfg, task.obs_dim, task.action_dim)
    return (agent, *make_device_fns(agent, cfg, task, Seeds(n_seeds)))


def _cache_key(cfg: TrainConfig) -> TrainConfig:
    """The config without the fields the compiled programs do not depend on."""
    return program_key(cfg)


def make_device_fns(agent, cfg: TrainConfig, task, seeds: Seeds):
    """Jitted ``(begin, chunk, evaluate)`` of the device loop for a resolved config."""
    venv = _vec_env(cfg, task, cfg.num_envs)
    eval_env = _vec_env(cfg, task, cfg.eval_episodes)
    step = configured_step(agent, cfg)
    gamma = cfg.agent.discount

    def begin(learner, buffer, noise, stats, scaler, key, dataset, *, random):
        """Start fresh episodes in every env and choose their first actions."""
        env, obs = venv.reset(key)
        stats = update_stats(stats, obs)
        scaler = scaler.replace(returns=scaler.returns * 0)
        norm = normalization(cfg, stats, scaler)
        ones = jnp.ones((cfg.num_envs,), jnp.float32)
        learner, action, noise = act(
            agent, learner, obs, norm, noise, ones, explore=True, random=random
        )
        ret, ended_sum, ended_count = ones * 0, jnp.zeros(()), jnp.zeros((), jnp.int32)
        return Carry(
            learner,
            buffer,
            env,
            obs,
            action,
            noise,
            stats,
            scaler,
            ret,
            ended_sum,
            ended_count,
            dataset,
        )

    def body(c: Carry, _, learn: bool):
        out = venv.step(c.env, c.action)
        done = jnp.maximum(out.terminated, out.truncated)
        scaler = update_reward_scaler(c.scaler, out.reward, done, gamma)
        stats = update_stats(c.obs_stats, out.final_obs)
        stats = update_stats(stats, out.obs, done)  # first observations of new episodes
        tr = Transition(c.obs, c.action, out.reward, out.final_obs, out.terminated, out.truncated)
        norm = normalization(cfg, stats, scaler)
        learner, buffer, action, noise, metrics = step(
            c.learner, c.buffer, tr, out.obs, norm, c.noise, done, c.dataset, learn=learn
        )
        ret = c.episode_return + out.reward
        c = Carry(
            learner,
            buffer,
            out.state,
            out.obs,
            action,
            noise,
            stats,
            scaler,
            ret * (1.0 - done),
            c.ended_sum + (ret * done).sum(),
            c.ended_count + done.sum().astype(jnp.int32),
            c.dataset,
        )
        return c, metrics

    def chunk(carry: Carry, active, length: int, learn: bool):
        """``length`` scanned iterations of which the first ``active`` run: one
        compiled length serves every chunk, the budget's last short one included."""
        step_fn = partial(body, learn=learn)
        skipped = jax.tree.map(jnp.zeros_like, jax.eval_shape(step_fn, carry, None)[1])

        def maybe(c, i):
            return jax.lax.cond(i < active, step_fn, lambda c, _: (c, skipped), c, None)

        carry, metrics = jax.lax.scan(maybe, carry, jnp.arange(length))
        return carry, jax.tree.map(lambda x: x[active - 1], metrics)

    def evaluate(actor, stats, scaler, key):
        norm = normalization(cfg, stats, scaler)
        policy = lambda o: agent.policy(actor, (o - norm.obs_mean) / norm.obs_std)
        return run_episodes(eval_env, policy, key)

    def chunk_all(carry, active, length, learn):
        return seeds.vmap(partial(chunk, active=active, length=length, learn=learn))(carry)

    def begin_all(learner, buffer, noise, stats, scaler, key, dataset, random):
        args = (learner, buffer, noise, stats, scaler, key, dataset)
        return seeds.vmap(partial(begin, random=random))(*args)

    return (
        jax.jit(begin_all, static_argnames="random", donate_argnums=(0, 1)),
        jax.jit(chunk_all, static_argnames=("length", "learn"), donate_argnums=0),
        jax.jit(seeds.vmap(evaluate)),
    )


def _next_event(cfg: TrainConfig, env_step: int, per_iter: int) -> int:
    """The first iteration at which the host has work after ``env_step``: a log,
    an evaluation, a reset, a dynamics probe or the pause, each at the first iteration whose env
    step count reaches it (where the host loop does it too)."""
    targets = [v for v in (cfg.pause_at, *cfg.reset_at) if v is not None and v > env_step]
    for every in (cfg.log_every, cfg.eval_every, cfg.reset_every, cfg.analyze_every):
        if every:
            targets.append((env_step // every + 1) * every)
    return min(-(-t // per_iter) for t in targets)


def _crossed(now: int, steps: int, every: int) -> bool:
    """A multiple of ``every`` lies in ``(now - steps, now]``."""
    return now // every > (now - steps) // every


def _f64(tree):
    return jax.tree.map(lambda x: np.asarray(x, np.float64), tree)


def _f32(tree):
    return jax.tree.map(lambda x: jnp.asarray(x, jnp.float32), tree)


def _env_key(seed: int, iteration: int) -> jax.Array:
    """Key of the episodes begun at ``iteration`` (start or resume) of a seed."""
    return jax.random.fold_in(jax.random.fold_in(jax.random.PRNGKey(seed), 2), iteration)


def _eval_key(seed: int, round_index: int) -> jax.Array:
    return jax.random.fold_in(jax.random.PRNGKey(seed + EVAL_STREAM), round_index)


def train_device(
    cfg: TrainConfig, resume: str | Path | None = None, on_eval: OnEval | None = None
) -> RunResult:
    """Train on a ``mjx:``/``jax:`` task with the device loop (``run.train`` routes here).

    The run directories are locked (``lock.py``) until this returns."""
    with RunLocks() as locks:
        return _train_device(cfg, resume, locks, on_eval)


def _train_device(cfg: TrainConfig, resume, locks: RunLocks, on_eval: OnEval | None) -> RunResult:
    cfg, _ = rd.resolve(cfg)
    if resume is not None:
        group_dir, cfg = rd.reopen(resume, cfg, locks.hold)
    task = load_device_task(cfg.env, cfg.mjx_impl)
    seeds = Seeds(cfg.vmap_seeds)
    agent, begin, chunk, evaluate = device_fns(_cache_key(cfg), cfg.vmap_seeds)
    probe_fn = make_probe_fn(agent, cfg, cfg.vmap_seeds)  # None without --analyze-every
    norm_of = seeds.vmap(partial(normalization, cfg))
    iterations = iterations_for(cfg)
    capacity = min(cfg.buffer_size, iterations * cfg.num_envs)
    r = cfg.replay
    if resume is None:
        nbytes = replay_bytes(capacity, task.obs_dim, task.action_dim, r.obs_dtype, r.prioritized)
        check_replay_fits(nbytes, copies=cfg.vmap_seeds)
        group_dir = rd.create(cfg, locks.hold) if cfg.vmap_seeds > 1 else None
    seat_cfgs = seat_configs(cfg, group_dir or Path(cfg.run_dir or rd.default_run_dir(cfg)))
    warm_iters = warmup_iterations(cfg)

    seats, parts = [], []
    dataset = dataset_buffer(cfg, task.obs_dim, task.action_dim)  # copied per seed
    for scfg in seat_cfgs:
        learner, loop = start(agent, cfg, scfg.seed, warm=resume is None)
        if resume is not None:  # keep the ring's geometry even if --steps changed
            run_dir = rd.reopen_seat(group_dir, scfg, cfg.vmap_seeds, locks.hold)
            capacity = read_meta(run_dir / rd.CHECKPOINT_FILE).get("replay_capacity", capacity)
        buffer = init_replay(capacity, task.obs_dim, task.action_dim, r.prioritized, r.obs_dtype)
        if resume is not None:
            learner, buffer, loop = load_loop(run_dir / rd.CHECKPOINT_FILE, learner, buffer, loop)
            buffer = cut_episodes(buffer, list(range(cfg.num_envs)), cfg.num_envs)
        else:
            run_dir = rd.create(scfg, locks.hold)
        seat = Seat(dataclasses.replace(scfg, run_dir=str(run_dir)), run_dir, None, None, loop)
        sink = wandb_sink(seat.cfg, run_dir, group_dir)
        seat.logger = Logger(run_dir, cfg.tensorboard, loop.env_step if resume else None, sink)
        seats.append(seat)
        key = _env_key(scfg.seed, loop.iteration)
        stats = _f32(loop.obs_stats), _f32(loop.reward_scaler)
        parts.append((learner, buffer, loop.noise, *stats, key, dataset))
    main = seats[0].loop
    stacked = [seeds.stack(list(p)) for p in zip(*parts, strict=True)]
    del parts
    carry = begin(*stacked, random=main.iteration < warm_iters and cfg.init_from is None)
    del stacked

    progress = Progress(cfg.steps, main.env_step, enabled=cfg.progress)
    updates_now = lambda: int(np.asarray(carry.learner.step).reshape(-1)[0])
    for seat in seats:
        seat.last_log = (time.time(), main.env_step, updates_now())
    per_iter = cfg.num_envs * cfg.action_repeat
    chunk_iters = max(1, -(-min(cfg.log_every, cfg.eval_every) // per_iter))
    quiet = max(warm_iters - 1, 0)  # iteration i learns once i + 1 >= warm_iters
    # eager, as in the host loop: a jitted init with batched QR can deadlock XLA:CPU
    reset_fn = seeds.vmap(lambda s: agent.reset(s, cfg.reset_networks))
    start_step, interrupted, metrics = main.env_step, False, {}

    def save(k: int) -> None:
        seat = seats[k]
        one = seeds.take(carry, k)
        check_finite(one.learner, seeds.take(metrics, k), cfg, seat.run_dir)
        seat.loop.obs_stats, seat.loop.reward_scaler = _f64(one.obs_stats), _f64(one.scaler)
        seat.loop.noise = one.noise
        seat.loop.episode_return = np.asarray(one.episode_return, np.float64)
        save_loop(seat.run_dir / rd.CHECKPOINT_FILE, one.learner, one.buffer, seat.loop, one.action)

    def run_eval_and_checkpoint() -> bool:
        keys = seeds.stack([_eval_key(s.cfg.seed, main.eval_round) for s in seats])
        returns, lengths = evaluate(carry.learner.actor, carry.obs_stats, carry.scaler, keys)
        returns, lengths = np.asarray(returns), np.asarray(lengths)
        for k, seat in enumerate(seats):
            seat.record_eval(EvalResult(seeds.take(returns, k), seeds.take(lengths, k), [], None))
            if cfg.checkpoint:
                save(k)
        return target_reached(seats, cfg, progress, on_eval)

    if resume is None and cfg.init_from is not None:
        run_eval_and_checkpoint()  # env step 0: the loaded policy, before any online data
    with StopFlag() as stop:
        while main.iteration < iterations:
            learn = main.iteration >= quiet
            end = iterations if learn else min(quiet, iterations)
            end = min(end, _next_event(cfg, main.env_step, per_iter))
            length = min(chunk_iters, end - main.iteration)
            carry, metrics = chunk(carry, length, length=chunk_iters, learn=learn)
            metrics = metrics if learn else {}  # warm-up chunks do not update
            done_steps = length * per_iter
            for seat in seats:
                seat.loop.iteration += length
                seat.loop.agent_step += length * cfg.num_envs
                seat.loop.env_step += done_steps
            progress.advance(done_steps)
            now = main.env_step
            crossed = partial(_crossed, now, done_steps)
            if any(now - done_steps < s <= now for s in cfg.reset_at) or (
                cfg.reset_every and crossed(cfg.reset_every)
            ):
                carry = carry.replace(learner=reset_fn(carry.learner))
                for seat in seats:
                    seat.logger.log({"env_step": now, "train/reset": 1.0})
            if crossed(cfg.log_every) and learn:
                sums, counts = np.asarray(carry.ended_sum), np.asarray(carry.ended_count)
                for k, seat in enumerate(seats):
                    one = seeds.take(carry.learner, k)
                    check_finite(one, seeds.take(metrics, k), cfg, seat.run_dir)
                    count = float(seeds.take(counts, k))
                    seat.recent_returns = [float(seeds.take(sums, k)) / count] if count else []
                    seat.last_log = log_train(seat, progress, seeds.take(metrics, k), updates_now())
                carry = carry.replace(
                    ended_sum=jnp.zeros_like(carry.ended_sum),
                    ended_count=jnp.zeros_like(carry.ended_count),
                )
            if probe_fn and learn and crossed(cfg.analyze_every):
                norm = norm_of(carry.obs_stats, carry.scaler)
                log_dynamics(seats, seeds, probe_fn, carry.learner, carry.buffer, norm)
            final = main.iteration >= iterations
            if (crossed(cfg.eval_every) or final) and run_eval_and_checkpoint():
                break  # --stop-at-return reached; the evaluation checkpointed
            paused = cfg.pause_at is not None and start_step < cfg.pause_at <= now
            if (stop.requested or paused) and not final:
                if cfg.checkpoint:
                    for k in range(len(seats)):
                        save(k)
                interrupted = True
                break
    progress.close()
    return gather_results(seats, seeds, group_dir, main.env_step, interrupted)
