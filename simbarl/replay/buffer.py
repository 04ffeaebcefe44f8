"""Uniform ring buffer of raw transitions, as a pure jax struct.

The same buffer serves the host loop (on a CPU backend its arrays are host
memory; inserts are donated in-place updates inside the jitted train step) and
the device loop. Observations and rewards are stored raw: normalization and
reward scaling are applied to each sampled batch with the current statistics.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
from flax import struct

from simbarl.replay.prioritized import SumTree, add_new, init_tree


@struct.dataclass
class Transition:
    """One step per leading index. ``next_obs`` is the true final observation
    when the episode ended, never the observation after an automatic reset."""

    obs: jnp.ndarray  # (..., obs_dim)
    action: jnp.ndarray  # (..., action_dim) in [-1, 1]
    reward: jnp.ndarray  # (...,) raw reward (summed over the action repeat)
    next_obs: jnp.ndarray  # (..., obs_dim)
    terminated: jnp.ndarray  # (...,) 1.0: the MDP ended; do not bootstrap
    truncated: jnp.ndarray  # (...,) 1.0: time limit; still bootstrap


@struct.dataclass
class ReplayBuffer:
    data: Transition  # leaves (capacity, ...)
    pos: jnp.ndarray  # next write index
    size: jnp.ndarray  # filled entries
    priorities: SumTree | tuple = ()  # a sum tree with prioritized replay, else ()

    @property
    def prioritized(self) -> bool:
        return isinstance(self.priorities, SumTree)

    @property
    def capacity(self) -> int:
        return self.data.reward.shape[0]


def init_replay(
    capacity: int,
    obs_dim: int,
    action_dim: int,
    prioritized: bool = False,
    obs_dtype: str = "float32",
) -> ReplayBuffer:
    """An empty ring; ``obs_dtype="bfloat16"`` halves the observations' memory."""
    z = lambda *shape, dtype=jnp.float32: jnp.zeros((capacity, *shape), dtype)
    obs = lambda: z(obs_dim, dtype=jnp.dtype(obs_dtype))
    data = Transition(obs(), z(action_dim), z(), obs(), z(), z())
    return ReplayBuffer(
        data=data,
        pos=jnp.zeros((), jnp.int32),
        size=jnp.zeros((), jnp.int32),
        priorities=init_tree(capacity) if prioritized else (),
    )


def add(buffer: ReplayBuffer, batch: Transition) -> ReplayBuffer:
    """Write ``n`` transitions (leading axis), overwriting the oldest when full."""
    n = batch.reward.shape[0]
    idx = (buffer.pos + jnp.arange(n)) % buffer.capacity
    data = jax.tree.map(lambda d, x: d.at[idx].set(x.astype(d.dtype)), buffer.data, batch)
    return buffer.replace(
        data=data,
        pos=(buffer.pos + n) % buffer.capacity,
        size=jnp.minimum(buffer.size + n, buffer.capacity),
        priorities=add_new(buffer.priorities, idx) if buffer.prioritized else (),
    )


def uniform_indices(buffer: ReplayBuffer, key: jax.Array, shape: tuple[int, ...]) -> jnp.ndarray:
    """Slots drawn uniformly with replacement from the filled part; ``shape`` such
    as ``(utd, batch)``."""
    return jax.random.randint(key, shape, 0, buffer.size)


def gather(buffer: ReplayBuffer, idx: jnp.ndarray) -> Transition:
    """The transitions at ``idx`` (any shape), as float32."""
    return jax.tree.map(lambda d: d[idx].astype(jnp.float32), buffer.data)


def sample(buffer: ReplayBuffer, key: jax.Array, shape: tuple[int, ...]) -> Transition:
    """Uniform sample with replacement; ``shape`` such as ``(utd, batch)``."""
    return gather(buffer, uniform_indices(buffer, key, shape))
