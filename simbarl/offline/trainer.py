"""Offline training: SimbaV2-SAC (or TD3) with a behaviour-cloning actor term on a dataset.

NOTES.md's offline variant: the online agent plus ``bc_alpha * stopgrad(mean|Q|)
* mean((a_pi - a_data)^2)`` in the actor loss (bc_alpha 0.1), the learning rate
decaying 1e-4 -> 1e-5 over the first half of the updates, and normalizers
fitted by one pass over the dataset before training. Training counts epochs
over the dataset (``--steps`` caps the updates); the updates between two logs
are one jitted ``lax.scan``. The run directory has the online layout:
``config.json`` (a ``TrainConfig`` from which ``simbarl eval`` rebuilds the
agent and env), ``offline.json`` (the dataset and the budget),
``metrics.jsonl`` whose ``env_step`` column counts *updates* (no env steps are
taken), TensorBoard events and ``checkpoint.npz``.
"""

from __future__ import annotations

import dataclasses
import json
import math
import time
from functools import partial

import jax
import numpy as np

from simbarl.agents import ALGORITHMS
from simbarl.agents.actor_critic import reported_metrics
from simbarl.agents.exploration import init_noise
from simbarl.config import (
    PRESETS,
    TrainConfig,
    action_bounds,
    apply_overrides,
    config_from_dict,
    config_to_dict,
    num_critics,
)
from simbarl.datasets import (
    EnvSpec,
    dataset_replay,
    env_spec_of,
    episodes_of,
    load_dataset,
)
from simbarl.envs.registry import make_env
from simbarl.offline.fit import fit_observations, fit_reward_scaler
from simbarl.replay import init_replay
from simbarl.runs import run_dir as rd
from simbarl.runs.finite import check_finite
from simbarl.runs.learner import normalization
from simbarl.runs.lock import RunLocks
from simbarl.runs.loop_state import LoopState, save_loop
from simbarl.runs.metrics import Logger
from simbarl.train.evaluate import evaluate
from simbarl.train.progress import Progress
from simbarl.train.step import draw, prepare
from simbarl.train.stop import StopFlag

# The published offline budget (NOTES.md): 100 epochs of updates over the dataset, the
# learning rate decaying 1e-4 -> 1e-5 over the first half of them.
PUBLISHED_EPOCHS = 100

# D4RL reference scores (random, expert) for the normalized score 100 (R - min) / (max - min).
D4RL_REFERENCE = {
    "halfcheetah": (-280.178953, 12135.0),
    "hopper": (-20.272305, 3234.3),
    "walker2d": (1.629008, 4592.3),
}


def d4rl_score(env_id: str, value: float) -> float | None:
    """D4RL normalized score (0 random, 100 expert) where the task has reference scores."""
    name = env_id.lower()
    for task, (lo, hi) in D4RL_REFERENCE.items():
        if name.startswith(task):
            return 100.0 * (value - lo) / (hi - lo)
    return None


@dataclasses.dataclass(frozen=True)
class OfflineConfig:
    dataset: str
    """A Minari dataset id or a local dataset folder."""
    preset: str = "simbav2-bc"
    """Agent preset (simbav2-bc: the published size; simbav2-bc-small for CPUs)."""
    algo: str = "sac"
    """sac (SimbaV2-BC) or td3 (TD3+BC)."""
    run_dir: str | None = None
    seed: int = 0
    epochs: int = PUBLISHED_EPOCHS
    """Passes over the dataset, counted in updates of batch_size transitions (the
    published budget: 100); the learning-rate decay spans the first half of them."""
    steps: int | None = None
    """Cap on the number of updates (for quick runs). The learning-rate decay spans the
    updates that run, so a cap shortens it too: under about 50k updates a mixed-quality
    dataset may stop before the critic has improved on behaviour cloning."""
    batch_size: int = 256
    eval_every: int = 10_000
    """Evaluate every this many updates (and at the end)."""
    eval_episodes: int = 10
    log_every: int = 1_000
    """Updates per jitted chunk and per training log row."""
    download: bool = False
    """Let Minari download a public dataset that is not on this machine."""
    env: str | None = None
    """Task to evaluate on, for datasets without simbarl's env metadata."""
    action_repeat: int | None = None
    overrides: tuple[str, ...] = ()
    """KEY=VALUE fields of the TrainConfig (agent.critic.width=256, ...)."""
    tensorboard: bool = True
    progress: bool = True


def _bc(name: str, base: str) -> TrainConfig:
    cfg = PRESETS[base]
    agent = dataclasses.replace(
        cfg.agent, bc_alpha=0.1, learning_rate_end=1e-5, learning_rate_decay=0.5
    )
    return dataclasses.replace(cfg, preset=name, agent=agent, updates_per_step=1, warmup_steps=0)


OFFLINE_PRESETS = {
    "simbav2-bc": _bc("simbav2-bc", "simbav2"),
    "simbav2-bc-small": _bc("simbav2-bc-small", "simbav2-small"),
}


def _train_config(ocfg: OfflineConfig, spec: EnvSpec, updates: int) -> TrainConfig:
    if ocfg.preset not in OFFLINE_PRESETS:
        raise ValueError(f"unknown preset {ocfg.preset!r}; choose {', '.join(OFFLINE_PRESETS)}")
    if ocfg.algo not in ("sac", "td3"):
        raise ValueError(f"offline training supports --algo sac or td3 (got {ocfg.algo!r})")
    cfg = dataclasses.replace(
        OFFLINE_PRESETS[ocfg.preset],
        env=spec.env,
        action_repeat=spec.action_repeat,
        action_low=spec.action_low,
        action_high=spec.action_high,
        algo=ocfg.algo,
        seed=ocfg.seed,
        steps=updates,  # counts updates here; see offline.json
        batch_size=ocfg.batch_size,
        eval_every=ocfg.eval_every,
        eval_episodes=ocfg.eval_episodes,
        log_every=ocfg.log_every,
        buffer_size=1,
        run_dir=ocfg.run_dir,
        tensorboard=ocfg.tensorboard,
        progress=ocfg.progress,
    )
    d = apply_overrides(config_to_dict(cfg), list(ocfg.overrides))
    cfg = config_from_dict(d)
    if cfg.replay.prioritized:
        raise ValueError("prioritized replay is not supported offline")
    if cfg.replay.recency_decay_steps > 0:
        raise ValueError(
            "--replay.recency-decay-steps is not supported offline: a dataset's order is "
            "not the age of its transitions"
        )
    return cfg


def train_offline(ocfg: OfflineConfig):
    """Train on a dataset; returns ``(run_dir, [(updates, eval return), ...])``.

    The run directory is locked (``runs/lock.py``) until this returns."""
    with RunLocks() as locks:
        return _train_offline(ocfg, locks)


def _train_offline(ocfg: OfflineConfig, locks: RunLocks):
    dataset = load_dataset(ocfg.dataset, download=ocfg.download)
    episodes = episodes_of(dataset)
    spec = env_spec_of(dataset)
    if ocfg.env is not None:
        spec = EnvSpec(ocfg.env, ocfg.action_repeat or 1)
    if spec is None:
        raise ValueError(
            f"{ocfg.dataset} does not say which simbarl env it comes from: pass --env "
            "(and --action-repeat) to evaluate on"
        )
    n = sum(len(ep) for ep in episodes)
    updates = math.ceil(ocfg.epochs * n / ocfg.batch_size)
    if ocfg.steps is not None:
        updates = min(updates, ocfg.steps)
    if updates <= 0:
        raise ValueError("nothing to train: the dataset is empty or --steps is 0")
    cfg = _train_config(ocfg, spec, updates)
    cfg, task = rd.resolve(cfg)
    obs_dim, act_dim = episodes[0].observations.shape[1], episodes[0].actions.shape[1]
    if (obs_dim, act_dim) != (task.obs_dim, task.action_dim):
        raise ValueError(
            f"the dataset has observations {obs_dim} and actions {act_dim}; {cfg.env} has "
            f"{task.obs_dim} and {task.action_dim}"
        )
    agent = ALGORITHMS[cfg.algo](
        cfg.agent,
        obs_dim,
        act_dim,
        discount=cfg.agent.discount,
        num_critics=num_critics(cfg.algo, cfg.agent),
        total_updates=updates,
    )

    loop = LoopState.fresh(1, obs_dim, act_dim)
    loop.obs_stats = fit_observations(episodes)
    loop.reward_scaler = fit_reward_scaler(episodes, cfg.agent.discount)
    loop.noise = init_noise(cfg.agent, jax.random.PRNGKey(cfg.seed), 1, act_dim)
    norm = normalization(cfg, loop.obs_stats, loop.reward_scaler)

    buffer = dataset_replay(episodes)
    learner = agent.init(jax.random.PRNGKey(cfg.seed))
    budget = {
        **dataclasses.asdict(ocfg),
        "updates": updates,
        "transitions": n,
        "episodes": len(episodes),
        "dataset_id": dataset.spec.dataset_id,
    }
    run_dir = rd.create(cfg, locks.hold, {"offline.json": json.dumps(budget, indent=1)})

    @partial(jax.jit, static_argnames="length", donate_argnums=0)
    def chunk(learner, length):
        def body(learner, _):
            key, k_sample = jax.random.split(learner.key)
            tr, horizon, _, _ = draw(
                buffer, k_sample, (1, cfg.batch_size), cfg.replay, agent.discount, 1, 1.0
            )
            learner, metrics, _ = agent.learn(learner.replace(key=key), prepare(tr, norm, horizon))
            return learner, metrics

        learner, metrics = jax.lax.scan(body, learner, None, length=length)
        return learner, jax.tree.map(lambda m: m[-1], metrics)

    env = make_env(cfg.env, cfg.action_repeat, bounds=action_bounds(cfg))
    policy = jax.jit(lambda actor, o: agent.policy(actor, (o - norm.obs_mean) / norm.obs_std))
    logger = Logger(run_dir, cfg.tensorboard)
    progress = Progress(updates, 0, enabled=cfg.progress)
    evals, done, last = [], 0, (time.time(), 0)
    empty = init_replay(1, obs_dim, act_dim)
    metrics = {}

    def evaluate_and_save():
        check_finite(learner, metrics, cfg, run_dir)  # nothing diverged is evaluated or saved
        result = evaluate(
            env, lambda o: policy(learner.actor, o), cfg.eval_episodes, cfg.seed, len(evals)
        )
        row = {"env_step": done, "update": done, **result.metrics()}
        score = d4rl_score(cfg.env, row["eval/return"])
        if score is not None:
            row["eval/normalized_score"] = score
        logger.log(row)
        evals.append((done, row["eval/return"]))
        progress.set_eval(row["eval/return"])
        loop.iteration = loop.eval_round = done  # env_step stays 0: no env steps are taken
        save_loop(run_dir / rd.CHECKPOINT_FILE, learner, empty, loop, np.zeros((1, act_dim)))

    with StopFlag() as stop:
        while done < updates and not stop.requested:
            length = min(cfg.log_every, updates - done, cfg.eval_every - done % cfg.eval_every)
            learner, metrics = chunk(learner, length=length)
            done += length
            progress.advance(length)
            if done % cfg.log_every == 0 or done == updates:
                check_finite(learner, metrics, cfg, run_dir)
                now = time.time()
                row = {f"train/{k}": v for k, v in reported_metrics(metrics).items()}
                rate = (done - last[1]) / max(now - last[0], 1e-9)
                logger.log({"env_step": done, "update": done, **row, "perf/updates_per_s": rate})
                progress.set_rates(0.0, rate)
                last = (now, done)
            if done % cfg.eval_every == 0 or done == updates or stop.requested:
                evaluate_and_save()
    progress.close()
    logger.close()
    return run_dir, evals
