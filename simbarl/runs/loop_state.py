"""Host-side loop state and its checkpoint (learner, replay, statistics, counters)."""

from __future__ import annotations

import dataclasses
from functools import partial
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np

from simbarl.agents.exploration import NoiseState
from simbarl.normalizers import RewardScaler, RunningStats
from simbarl.replay import ReplayBuffer
from simbarl.runs import checkpoint

COUNTERS = ("iteration", "env_step", "agent_step", "eval_round")
REPLAY_COUNTS = ("replay_size", "replay_pos")


@dataclasses.dataclass
class LoopState:
    """Everything besides the learner and replay that a resumed run needs."""

    iteration: int
    env_step: int
    agent_step: int
    eval_round: int
    episode_index: np.ndarray  # (num_envs,) episodes begun per env
    at_episode_start: np.ndarray  # (num_envs,) env was just reset at this point
    episode_return: np.ndarray  # (num_envs,) return of the episode in flight
    action: np.ndarray  # (num_envs, action_dim) action chosen for the next step
    obs_stats: RunningStats | None = None
    reward_scaler: RewardScaler | None = None
    noise: NoiseState | None = None  # exploration noise of TD3/DDPG, per env

    @classmethod
    def fresh(cls, num_envs: int, obs_dim: int, action_dim: int) -> LoopState:
        return cls(
            iteration=0,
            env_step=0,
            agent_step=0,
            eval_round=0,
            episode_index=np.full(num_envs, -1, np.int64),
            at_episode_start=np.zeros(num_envs, bool),
            episode_return=np.zeros(num_envs),
            action=np.zeros((num_envs, action_dim), np.float32),
        )

    def arrays(self) -> dict:
        return {
            "episode_index": self.episode_index,
            "at_episode_start": self.at_episode_start,
            "episode_return": self.episode_return,
            "action": self.action,
            "obs_stats": self.obs_stats,
            "reward_scaler": self.reward_scaler,
            "noise": self.noise,
        }


def save_loop(path: Path, learner, buffer: ReplayBuffer, loop: LoopState, action, env=None) -> None:
    """Checkpoint; the replay is stored up to its filled size only. ``env``: the
    envs' state as ``(tree, info)`` (``runs/env_checkpoint.py``), or None."""
    loop.action = np.asarray(action, np.float32)
    size = int(buffer.size)
    trees = {
        "learner": learner,
        # float32 on disk whatever the storage type (npz has no bfloat16)
        "replay": jax.tree.map(lambda x: x[:size].astype(jnp.float32), buffer.data),
        "loop": loop.arrays(),
    }
    if buffer.prioritized:
        trees["priorities"] = buffer.priorities  # whole tree: resumes bit for bit
    meta = {k: getattr(loop, k) for k in COUNTERS}
    meta.update(replay_size=size, replay_pos=int(buffer.pos), replay_capacity=buffer.capacity)
    if env is not None:  # a resume continues the episodes in flight
        trees["env"], meta["env_state"] = env
    checkpoint.save(path, trees, meta)


def replay_meta(path: Path, capacity: int, buffer_size: int) -> dict:
    """The checkpoint's counters and replay geometry, checked before any array is read:
    whole numbers >= 0, ``1 <= replay_capacity <= buffer_size`` (``capacity`` where an
    old checkpoint does not record it), the size and write position inside the ring."""
    meta = checkpoint.read_meta(path, counts=COUNTERS + REPLAY_COUNTS)
    meta.setdefault("replay_capacity", capacity)
    cap, size, pos = (meta[k] for k in ("replay_capacity", "replay_size", "replay_pos"))
    if isinstance(cap, bool) or not isinstance(cap, int) or not 1 <= cap <= buffer_size:
        why = (
            f"its field replay_capacity is {cap!r}, not a whole number in [1, {buffer_size}] "
            "(the run's --buffer-size)"
        )
    elif size > cap or pos >= cap:
        why = f"its replay_size {size} and replay_pos {pos} do not fit replay_capacity {cap}"
    else:
        return meta
    raise checkpoint.damaged(path, ValueError(why))


def _filled(template, rows, size: int):
    """``template`` (an empty ring's zeros) with its first ``size`` rows from ``rows``,
    laid out as ``template``: a ring split over several devices is filled on the host
    and sent split, never whole to one device."""
    if len(template.sharding.device_set) == 1:
        return template.at[:size].set(jnp.asarray(rows, template.dtype))
    full = np.zeros(template.shape, template.dtype)
    full[:size] = np.asarray(rows).astype(template.dtype)
    return jax.device_put(full, template.sharding)


def load_loop(path: Path, learner, buffer: ReplayBuffer, loop: LoopState):
    """Restore into templates built from the run's config; bit for bit."""
    meta = replay_meta(path, buffer.capacity, buffer.capacity)
    size = meta["replay_size"]
    if meta["replay_capacity"] != buffer.capacity:
        raise checkpoint.damaged(
            path, ValueError(f"its replay_capacity is not {buffer.capacity}, the run's")
        )
    replay = jax.tree.map(lambda d: np.zeros((0, *d.shape[1:]), np.float32), buffer.data)
    size_template = {"learner": learner, "replay": replay, "loop": loop.arrays()}
    if buffer.prioritized:
        size_template["priorities"] = buffer.priorities
    counts = COUNTERS + REPLAY_COUNTS
    trees, meta = checkpoint.load(path, size_template, ragged={"replay": size}, counts=counts)
    data = jax.tree.map(partial(_filled, size=size), buffer.data, trees["replay"])
    buffer = buffer.replace(
        data=data,
        pos=jnp.asarray(meta["replay_pos"], jnp.int32),
        size=jnp.asarray(size, jnp.int32),
        priorities=jax.tree.map(jnp.asarray, trees.get("priorities", ())),
    )
    learner = jax.tree.map(jnp.asarray, trees["learner"])
    arrays = trees["loop"]
    loop = LoopState(**{k: meta[k] for k in COUNTERS}, **arrays)
    return learner, buffer, loop


def cut_episodes(buffer: ReplayBuffer, envs: list[int], num_envs: int) -> ReplayBuffer:
    """Mark the last stored step of each env in ``envs`` as truncated.

    A resumed run restarts an episode that was cut mid-way, so the next
    transition of that env in the ring belongs to a new episode: n-step
    returns must stop at the cut (it still bootstraps, as a time limit does).
    """
    if not envs or int(buffer.size) < num_envs:
        return buffer
    idx = (int(buffer.pos) - num_envs + np.asarray(envs)) % buffer.capacity
    truncated = buffer.data.truncated.at[idx].set(1.0)
    return buffer.replace(data=buffer.data.replace(truncated=truncated))
