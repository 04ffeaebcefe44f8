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

import jax
import jax.numpy as jnp
import numpy as np

from simbarl.agents.actor_critic import DELAYED_PREFIXES
from simbarl.config import (
    PRESETS,
    TrainConfig,
    action_bounds,
    apply_overrides,
    config_from_dict,
    config_to_dict,
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
from simbarl.runs.learner import build_agent, normalization, policy
from simbarl.runs.lock import RunLocks
from simbarl.runs.loop_state import LoopState
from simbarl.train.engine import Engine
from simbarl.train.evaluate import EvalResult, evaluate
from simbarl.train.session import Session
from simbarl.train.step import draw, prepare

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
    """sac (SimbaV2-BC), td3 (TD3+BC) or flashsac (FlashSAC with the BC term; with
    --preset flashsac-bc)."""
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
    # FlashSAC's networks and update with the same BC term (the official code has no
    # offline mode): --algo flashsac
    "flashsac-bc": _bc("flashsac-bc", "flashsac"),
}
ALGOS = ("sac", "td3", "flashsac")


def _train_config(ocfg: OfflineConfig, spec: EnvSpec, updates: int) -> TrainConfig:
    if ocfg.preset not in OFFLINE_PRESETS:
        raise ValueError(f"unknown preset {ocfg.preset!r}; choose {', '.join(OFFLINE_PRESETS)}")
    if ocfg.algo not in ALGOS:
        raise ValueError(f"offline training supports --algo {', '.join(ALGOS)} (got {ocfg.algo!r})")
    flash = OFFLINE_PRESETS[ocfg.preset].algo == "flashsac"
    if flash != (ocfg.algo == "flashsac"):
        raise ValueError(
            "--algo flashsac trains FlashSAC's batch-normalized networks: it goes with "
            f"--preset flashsac-bc, and that preset with --algo flashsac only (got --algo "
            f"{ocfg.algo} --preset {ocfg.preset})"
        )
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
        analyze_every=0,  # the dynamics probe: on with --set analyze_every=N
        buffer_size=1,
        run_dir=ocfg.run_dir,
        tensorboard=ocfg.tensorboard,
        progress="auto" if ocfg.progress else "off",
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
    with RunLocks() as locks:
        session = Session(_train_config(ocfg, spec, updates), None, locks)
        session.iterations, session.per_iter = updates, 1  # the clock counts updates
        info = {"updates": updates, "transitions": n, "episodes": len(episodes)}
        info["dataset_id"] = dataset.spec.dataset_id
        budget = json.dumps({**dataclasses.asdict(ocfg), **info}, indent=1)
        engine = OfflineEngine(session, episodes, {"offline.json": budget})
        result = session.run(engine)
    return result.run_dir, result.eval_returns


def last_metrics(metrics: dict) -> dict:
    """The last update's metrics of a chunk ``(length,)`` each, the delayed actor's (and
    ``actor/updates``) from the last update that stepped it: with a policy delay (TD3,
    FlashSAC) the chunk's last update may not have, and its void actor metrics would
    leave the row without any."""
    ran = metrics["actor/updates"] > 0
    last_ran = jnp.max(jnp.where(ran, jnp.arange(ran.shape[0]), 0))
    delayed = lambda k: k.startswith(DELAYED_PREFIXES) or k == "actor/updates"
    return {k: m[last_ran] if delayed(k) else m[-1] for k, m in metrics.items()}


class OfflineEngine(Engine):
    """Updates on a fixed dataset; ``log_every`` updates are one jitted ``lax.scan``."""

    log_at_end = True  # the budget's last, short chunk gets its row
    progress_unit = "update"
    on_stop = "evaluate"  # an offline run is not resumed: a stop still ends in a result

    def __init__(self, session: Session, episodes, files: dict[str, str]):
        cfg, task = session.cfg, session.task
        obs_dim, act_dim = episodes[0].observations.shape[1], episodes[0].actions.shape[1]
        if (obs_dim, act_dim) != (task.obs_dim, task.action_dim):
            raise ValueError(
                f"the dataset has observations {obs_dim} and actions {act_dim}; {cfg.env} has "
                f"{task.obs_dim} and {task.action_dim}"
            )
        self.session, self.cfg = session, cfg
        self.agent = build_agent(cfg, obs_dim, act_dim, total_updates=session.iterations)
        loop = LoopState.fresh(1, obs_dim, act_dim)
        loop.obs_stats = fit_observations(episodes)
        loop.reward_scaler = fit_reward_scaler(episodes, cfg.agent.discount)
        loop.noise = self.agent.init_noise(cfg.agent, jax.random.PRNGKey(cfg.seed), 1, act_dim)
        self.norm = normalization(cfg, loop.obs_stats, loop.reward_scaler)
        self.buffer = dataset_replay(episodes)
        self.learner = self.agent.init(jax.random.PRNGKey(cfg.seed))
        self.seat = session.add_seat(cfg, loop, files=files, resumable=False)
        self.chunk = jax.jit(self._chunk, static_argnames="length", donate_argnums=0)
        self.env = make_env(cfg.env, cfg.action_repeat, bounds=action_bounds(cfg))
        agent, norm = self.agent, self.norm
        self.policy = jax.jit(lambda actor, o: policy(agent, actor, o, norm))
        self.empty = init_replay(1, obs_dim, act_dim)
        self.metrics = {}

    def _chunk(self, learner, length: int):
        cfg, agent = self.cfg, self.agent

        def body(learner, _):
            key, k_sample = jax.random.split(learner.key)
            tr, horizon, _, _ = draw(
                self.buffer, k_sample, (1, cfg.batch_size), cfg.replay, agent.discount, 1, 1.0
            )
            batch = prepare(tr, self.norm, horizon)
            learner, metrics, _ = agent.learn(learner.replace(key=key), batch)
            return learner, metrics

        learner, metrics = jax.lax.scan(body, learner, None, length=length)
        return learner, last_metrics(metrics)

    def advance(self, limit: int) -> int:
        length = min(limit, self.cfg.log_every)
        self.learner, self.metrics = self.chunk(self.learner, length=length)
        return length

    def evaluate(self) -> list[EvalResult]:
        cfg, actor = self.cfg, self.learner.actor
        act = lambda o: self.policy(actor, o)
        result = evaluate(self.env, act, cfg.eval_episodes, cfg.seed, self.seat.loop.eval_round)
        score = d4rl_score(cfg.env, float(result.returns.mean()))
        return [result._replace(normalized_score=score)]

    def snapshot(self, k: int):
        return self.learner, self.empty, np.zeros((1, self.agent.action_dim), np.float32)

    def reset_networks(self) -> None:
        raise ValueError("network resets are not supported offline")

    def probe_inputs(self) -> tuple:
        return self.learner, self.buffer, self.norm
