"""simbarl's own pure-JAX tasks (``jax:NAME``): small, fast, for the device loop's
tests and smoke runs on any machine, without MuJoCo Playground installed.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
from flax import struct


@struct.dataclass
class PointMassState:
    pos: jnp.ndarray  # (2,)
    obs: jnp.ndarray  # (2,) the position
    reward: jnp.ndarray  # ()
    done: jnp.ndarray  # () 1.0 once the mass left the arena


class PointMass:
    """Steer a point to the origin of a 2-D arena; the action is its velocity.

    Reward per step ``1 - min(|pos|, 1)``; the episode terminates (no
    bootstrap) when the point leaves the arena ``|pos_i| > 2``, so both
    termination and the 100-step time limit occur. Standing still returns
    about 25, a policy that heads straight to the origin about 95.
    """

    observation_size = 2
    action_size = 2
    episode_length = 100

    def _state(self, pos, reward, done) -> PointMassState:
        return PointMassState(pos, pos, reward, done)

    def reset(self, key: jax.Array) -> PointMassState:
        pos = jax.random.uniform(key, (2,), minval=-1.0, maxval=1.0)
        zero = jnp.zeros((), jnp.float32)
        return self._state(pos, zero, zero)

    def step(self, state: PointMassState, action: jnp.ndarray) -> PointMassState:
        pos = state.pos + 0.1 * jnp.clip(action, -1.0, 1.0)
        out = jnp.any(jnp.abs(pos) > 2.0)
        reward = jnp.where(out, 0.0, 1.0 - jnp.minimum(jnp.linalg.norm(pos), 1.0))
        return self._state(pos, reward, out.astype(jnp.float32))


TOY_TASKS = {"PointMass": PointMass}
