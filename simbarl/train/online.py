"""The host training loop: Gymnasium envs on the CPU, one jitted call per agent step.

Per agent step: step every training env; store the transition with its true
final observation; update the reward scaler and RSNorm statistics (float64,
host); reset finished envs (episode ``k`` of env ``i`` is reset with a seed
derived from ``(seed, i, k)``, so episodes are reproducible across resumes);
then one jitted call inserts, runs ``utd`` updates and picks the next action.
"""

from __future__ import annotations

import dataclasses
import math
import signal
import threading
import time
from pathlib import Path

import jax
import numpy as np

from simbarl.agents import ALGORITHMS, ActorCritic
from simbarl.agents.actor_critic import DELAYED_PREFIXES
from simbarl.agents.exploration import init_noise
from simbarl.config import TrainConfig
from simbarl.envs.registry import make_env
from simbarl.normalizers import (
    EPS,
    init_reward_scaler,
    init_stats,
    reward_scale,
    update_reward_scaler,
    update_stats,
)
from simbarl.replay import init_replay
from simbarl.train import run_dir as rd
from simbarl.train.checkpoint import read_meta
from simbarl.train.env_runner import EnvRunner
from simbarl.train.evaluate import evaluate
from simbarl.train.logger import Logger
from simbarl.train.loop_state import LoopState, cut_episodes, load_loop, save_loop
from simbarl.train.progress import Progress
from simbarl.train.step import Normalization, make_step_fns


@dataclasses.dataclass
class RunResult:
    run_dir: Path
    env_step: int
    eval_returns: list[tuple[int, float]]  # (env_step, mean return) per evaluation
    interrupted: bool = False


def build_agent(cfg: TrainConfig, obs_dim: int, action_dim: int) -> ActorCritic:
    """The learner of ``cfg.algo`` for a resolved config (``run_dir.resolve``)."""
    iterations = iterations_for(cfg)
    warmup_iters = math.ceil(cfg.warmup_steps / cfg.num_envs)
    return ALGORITHMS[cfg.algo](
        cfg.agent,
        obs_dim,
        action_dim,
        discount=cfg.agent.discount,
        num_critics=rd.num_critics(cfg.algo, cfg.agent),
        total_updates=max(iterations - warmup_iters, 1) * cfg.updates_per_step,
    )


def iterations_for(cfg: TrainConfig) -> int:
    """Loop iterations (each steps all envs once) to spend ``cfg.steps`` env steps."""
    return math.ceil(cfg.steps / (cfg.num_envs * cfg.action_repeat))


def normalization(cfg: TrainConfig, loop: LoopState) -> Normalization:
    if cfg.agent.observation_norm:
        mean, std = loop.obs_stats.mean, np.sqrt(loop.obs_stats.var + EPS)
    else:
        mean, std = np.zeros_like(loop.obs_stats.mean), np.ones_like(loop.obs_stats.var)
    scale = reward_scale(loop.reward_scaler, cfg.agent.g_max) if cfg.agent.reward_scaling else 1.0
    return Normalization(
        obs_mean=mean.astype(np.float32),
        obs_std=std.astype(np.float32),
        reward_scale=np.float32(scale),
    )


class _StopFlag:
    """First Ctrl-C asks the loop to checkpoint and stop; a second one aborts."""

    def __init__(self):
        self.requested = False

    def __enter__(self):
        # Signal handlers can only be set from the main thread (not in a worker).
        self._main = threading.current_thread() is threading.main_thread()
        if self._main:
            self._old = signal.signal(signal.SIGINT, self._handle)
        return self

    def _handle(self, signum, frame):
        if self.requested:
            raise KeyboardInterrupt
        self.requested = True

    def __exit__(self, *exc):
        if self._main:
            signal.signal(signal.SIGINT, self._old)


def train(cfg: TrainConfig, resume: str | Path | None = None) -> RunResult:
    """Train online. ``resume``: a run directory whose checkpoint to continue."""
    cfg, task = rd.resolve(cfg)
    if resume is not None:
        run_dir = Path(resume)
        cfg = rd.check_resumable(run_dir, dataclasses.replace(cfg, run_dir=str(run_dir)))
    bounds = rd.action_bounds(cfg)
    runner = EnvRunner(cfg.env, cfg.action_repeat, cfg.num_envs, cfg.seed, bounds)
    eval_env = make_env(cfg.env, cfg.action_repeat, bounds=bounds)
    agent = build_agent(cfg, task.obs_dim, task.action_dim)
    step_fn, act_fn = make_step_fns(agent, cfg)
    iterations = iterations_for(cfg)
    capacity = min(cfg.buffer_size, iterations * cfg.num_envs)
    if resume is not None:  # keep the ring's geometry even if --steps changed
        capacity = read_meta(run_dir / rd.CHECKPOINT_FILE).get("replay_capacity", capacity)
    learner = agent.init(jax.random.PRNGKey(cfg.seed))
    buffer = init_replay(capacity, task.obs_dim, task.action_dim, cfg.replay.prioritized)
    loop = LoopState.fresh(cfg.num_envs, task.obs_dim, task.action_dim)
    loop.obs_stats = init_stats((task.obs_dim,))
    loop.reward_scaler = init_reward_scaler(cfg.num_envs)
    noise_key = jax.random.fold_in(jax.random.PRNGKey(cfg.seed), 1)
    loop.noise = init_noise(cfg.agent, noise_key, cfg.num_envs, task.action_dim)
    if resume is not None:
        learner, buffer, loop = load_loop(run_dir / rd.CHECKPOINT_FILE, learner, buffer, loop)
    else:
        run_dir = rd.create(cfg)
    cfg = dataclasses.replace(cfg, run_dir=str(run_dir))
    logger = Logger(run_dir, cfg.tensorboard, loop.env_step if resume is not None else None)
    warmup_iters = math.ceil(cfg.warmup_steps / cfg.num_envs)

    obs, fresh = runner.start(loop)
    action = loop.action
    if resume is not None:
        buffer = cut_episodes(buffer, fresh, cfg.num_envs)
    if fresh:  # new episodes: count their observations, restart their returns G
        keep = np.ones(cfg.num_envs)
        keep[fresh] = 0.0
        loop.reward_scaler = loop.reward_scaler.replace(returns=loop.reward_scaler.returns * keep)
        loop.obs_stats = update_stats(loop.obs_stats, obs[fresh])
        random = loop.iteration < warmup_iters
        learner, new_action, loop.noise = act_fn(
            learner,
            obs.astype(np.float32),
            normalization(cfg, loop),
            loop.noise,
            _env_mask(cfg.num_envs, fresh),
            explore=True,
            random=random,
        )
        action = np.array(action)
        action[fresh] = np.asarray(new_action)[fresh]

    progress = Progress(cfg.steps, loop.env_step, enabled=cfg.progress)
    eval_returns: list[tuple[int, float]] = []
    metrics, recent_returns = {}, []
    last_log = (time.time(), loop.env_step, int(learner.step))
    policy = jax.jit(lambda actor, o, norm: agent.policy(actor, (o - norm.obs_mean) / norm.obs_std))
    interrupted, start_step = False, loop.env_step
    per_iter = cfg.num_envs * cfg.action_repeat
    crossed = lambda every: loop.env_step // every > (loop.env_step - per_iter) // every
    crossed_step = lambda step: loop.env_step - per_iter < step <= loop.env_step

    def run_eval_and_checkpoint():
        norm = normalization(cfg, loop)
        returns, lengths, _, successes = evaluate(
            eval_env,
            lambda o: policy(learner.actor, o, norm),
            cfg.eval_episodes,
            cfg.seed,
            loop.eval_round,
        )
        loop.eval_round += 1
        row = {
            "env_step": loop.env_step,
            "agent_step": loop.agent_step,
            "eval/return": float(returns.mean()),
            "eval/return_std": float(returns.std()),
            "eval/episode_length": float(lengths.mean()),
        }
        if successes is not None:  # MyoSuite's score: solved at any step
            row["eval/success"] = float(successes.mean())
        logger.log(row)
        eval_returns.append((loop.env_step, row["eval/return"]))
        progress.set_eval(row["eval/return"])
        if cfg.checkpoint:
            save_loop(run_dir / rd.CHECKPOINT_FILE, learner, buffer, loop, np.asarray(action))

    with _StopFlag() as stop:
        while loop.iteration < iterations:
            a = np.asarray(action)
            transition, next_obs, reward, done = runner.step(obs, a)
            loop.reward_scaler = update_reward_scaler(
                loop.reward_scaler, reward, done, cfg.agent.discount
            )
            loop.obs_stats = update_stats(loop.obs_stats, next_obs)
            loop.episode_return += reward
            obs, ended, ended_returns = runner.reset_ended(next_obs, done, loop)
            if len(ended):
                recent_returns += ended_returns
                loop.obs_stats = update_stats(loop.obs_stats, obs[ended])
            learner, buffer, action, loop.noise, m = step_fn(
                learner,
                buffer,
                transition,
                obs.astype(np.float32),
                normalization(cfg, loop),
                loop.noise,
                _env_mask(cfg.num_envs, ended),  # new episodes: fresh exploration noise
                learn=loop.iteration + 1 >= warmup_iters,
            )
            metrics = m or metrics
            loop.iteration += 1
            loop.agent_step += cfg.num_envs
            loop.env_step += per_iter
            progress.advance(per_iter)

            resets = [s for s in cfg.reset_at if crossed_step(s)]
            if resets or (cfg.reset_every and crossed(cfg.reset_every)):
                learner = agent.reset(learner, cfg.reset_networks)
                logger.log({"env_step": loop.env_step, "train/reset": 1.0})
            if crossed(cfg.log_every):
                last_log = _log_train(
                    logger, progress, loop, learner, metrics, recent_returns, last_log
                )
                recent_returns = []
            final = loop.iteration >= iterations
            if crossed(cfg.eval_every) or final:
                run_eval_and_checkpoint()
            paused = cfg.pause_at is not None and start_step < cfg.pause_at <= loop.env_step
            if (stop.requested or paused) and not final:
                if cfg.checkpoint:
                    save_loop(
                        run_dir / rd.CHECKPOINT_FILE, learner, buffer, loop, np.asarray(action)
                    )
                interrupted = True
                break
    progress.close()
    logger.close()
    return RunResult(run_dir, loop.env_step, eval_returns, interrupted)


def _env_mask(num_envs: int, envs) -> np.ndarray:
    """``(num_envs,)`` float32, 1.0 at ``envs``."""
    mask = np.zeros(num_envs, np.float32)
    mask[np.asarray(envs, int)] = 1.0
    return mask


def _log_train(logger, progress, loop, learner, metrics, recent_returns, last_log):
    now, updates = time.time(), int(learner.step)
    t0, step0, updates0 = last_log
    row = {"env_step": loop.env_step, "agent_step": loop.agent_step}
    metrics = {k: float(v) for k, v in jax.device_get(metrics).items()}
    if metrics.get("actor/updates") == 0:  # a delayed actor did not step in that call
        metrics = {k: v for k, v in metrics.items() if not k.startswith(DELAYED_PREFIXES)}
    row.update({f"train/{k}": v for k, v in metrics.items()})
    bad = [k for k, v in row.items() if not math.isfinite(v)]
    if bad:
        raise FloatingPointError(
            f"non-finite training metrics at env step {loop.env_step}: {', '.join(bad)}; "
            "the last checkpoint is kept. Lower the learning rate or check the rewards."
        )
    if recent_returns:
        row["train/episode_return"] = float(np.mean(recent_returns))
    dt = max(now - t0, 1e-9)
    row["perf/env_steps_per_s"] = (loop.env_step - step0) / dt
    row["perf/updates_per_s"] = (updates - updates0) / dt
    row["perf/updates"] = updates
    logger.log(row)
    progress.set_rates(row["perf/env_steps_per_s"], row["perf/updates_per_s"])
    return now, loop.env_step, updates
