"""Make datasets from a training run: episodes of its policy, or its replay buffer.

* ``record_episodes``: the run's policy, deterministic, with Gaussian action
  noise, or epsilon-random, to make "expert", "medium"-like or noisier data.
* ``replay_episodes``: the transitions in the run's checkpointed replay buffer
  (what the SimbaV2 authors released), put back into per-env episodes in the
  order they were gathered. The oldest episode may start mid-way (the ring
  overwrote its beginning) and the episode in flight at the checkpoint is
  closed as truncated, so its last step still bootstraps.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from simbarl.config import action_bounds
from simbarl.datasets import EnvSpec, Episode
from simbarl.replay import init_replay
from simbarl.runs import checkpoint
from simbarl.runs import run_dir as rd
from simbarl.runs.loop_state import COUNTERS, replay_meta
from simbarl.train.evaluate import episode_seed

COLLECT_STREAM = 2_000_003  # reset-seed stream of recorded episodes


def env_spec(cfg) -> EnvSpec:
    bounds = action_bounds(cfg)
    low, high = (None, None) if bounds is None else (tuple(map(float, b)) for b in bounds)
    return EnvSpec(cfg.env, cfg.action_repeat, low, high)


def record_episodes(
    agent, episodes: int, seed: int = 0, noise: float = 0.0, epsilon: float = 0.0, progress=None
) -> list[Episode]:
    """``episodes`` episodes of a loaded ``Agent``'s deterministic policy, with
    N(0, noise) added to each action (then clipped) and, with probability
    ``epsilon`` per step, a uniform random action instead."""
    if noise < 0 or not 0.0 <= epsilon <= 1.0:
        raise ValueError(f"noise must be >= 0 and epsilon in [0, 1] (got {noise}, {epsilon})")
    env = agent.make_env()
    rng = np.random.default_rng(seed)
    out = []
    for ep in range(episodes):
        obs, _ = env.reset(seed=episode_seed(seed, COLLECT_STREAM, ep))
        observations, actions, rewards, terms, truncs = [obs], [], [], [], []
        done = False
        while not done:
            action = agent.act(obs)
            if noise > 0:
                action = np.clip(action + rng.normal(0.0, noise, action.shape), -1.0, 1.0)
            if epsilon > 0 and rng.random() < epsilon:
                action = rng.uniform(-1.0, 1.0, action.shape)
            obs, reward, terminated, truncated, _ = env.step(action)
            observations.append(obs)
            actions.append(action)
            rewards.append(reward)
            terms.append(terminated)
            truncs.append(truncated)
            done = terminated or truncated
        out.append(
            Episode(
                np.asarray(observations, np.float32),
                np.asarray(actions, np.float32),
                np.asarray(rewards, np.float64),
                np.asarray(terms, bool),
                np.asarray(truncs, bool),
            )
        )
        if progress is not None:
            progress(ep, float(np.sum(rewards)))
    env.close()
    return out


def replay_episodes(run_dir) -> tuple[list[Episode], EnvSpec]:
    """The run's replay buffer as per-env episodes, in the order they were gathered."""
    cfg = rd.load_config(run_dir)
    cfg, task = rd.resolve(cfg)
    path = Path(run_dir) / rd.CHECKPOINT_FILE
    if not path.is_file():
        raise ValueError(f"{run_dir} has no {rd.CHECKPOINT_FILE}: no replay to export")
    template = init_replay(0, task.obs_dim, task.action_dim).data  # shapes, axis 0 ragged
    meta = replay_meta(path, cfg.buffer_size, cfg.buffer_size)  # checked before any array
    rows = {"replay": meta["replay_size"]}
    trees, meta = checkpoint.load(path, {"replay": template}, ragged=rows, counts=COUNTERS)
    data, size = trees["replay"], meta["replay_size"]
    capacity, pos, n = meta["replay_capacity"], meta["replay_pos"], cfg.num_envs
    order = (pos - size + np.arange(size)) % capacity  # oldest first
    env_of = (meta["agent_step"] - size + np.arange(size)) % n  # which env gathered each
    episodes = []
    for i in range(n):
        slots = order[env_of == i]
        ends = np.flatnonzero((data.terminated[slots] > 0) | (data.truncated[slots] > 0))
        starts = np.concatenate([[0], ends + 1])
        stops = np.concatenate([ends + 1, [len(slots)]])
        for a, b in zip(starts, stops, strict=True):
            if b <= a:
                continue
            s = slots[a:b]
            truncated = data.truncated[s] > 0
            truncated[-1] |= data.terminated[s[-1]] == 0  # the episode in flight
            episodes.append(
                Episode(
                    np.concatenate([data.obs[s], data.next_obs[s[-1:]]]),
                    data.action[s],
                    data.reward[s].astype(np.float64),
                    data.terminated[s] > 0,
                    truncated,
                )
            )
    return episodes, env_spec(cfg)
