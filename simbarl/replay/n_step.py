"""n-step returns computed when sampling from the uniform ring buffer.

The buffer keeps one-step transitions; a sampled index ``i`` is extended by
its env's following transitions, which sit ``stride`` (= number of envs)
slots later in the ring. For ``n`` steps:

    R = sum_{k < m} gamma^k r_{i + k*stride},  bootstrap gamma^m from s'_{i + (m-1)*stride}

where ``m <= n`` stops early at the first step whose episode ended
(terminated: no bootstrap; truncated by a time limit: bootstrap from the true
final observation) and at the newest transition written so far.
"""

from __future__ import annotations

import jax.numpy as jnp

from simbarl.replay.buffer import ReplayBuffer, Transition, gather


def n_step_at(
    buffer: ReplayBuffer, idx: jnp.ndarray, n: int, gamma: float, stride: int
) -> tuple[Transition, jnp.ndarray]:
    """The n-step transitions starting at ``idx``, and their lengths ``m``.

    Returns a ``Transition`` whose ``reward`` is the discounted n-step sum,
    ``next_obs``/``terminated``/``truncated`` those of its last step, and
    ``horizon`` (float, same shape as ``idx``): the number of steps ``m``, so
    the TD target bootstraps with ``gamma ** m``.
    """
    data, cap = buffer.data, buffer.capacity
    newer = (buffer.pos - 1 - idx) % cap  # transitions written after idx
    first = gather(buffer, idx)
    reward = jnp.zeros_like(first.reward)
    alive = jnp.ones_like(first.reward)  # still inside the episode and the data
    last = idx
    horizon = jnp.zeros_like(first.reward)
    for k in range(n):
        j = (idx + k * stride) % cap
        use = alive * (k * stride <= newer)
        reward = reward + use * (gamma**k) * data.reward[j]
        last = jnp.where(use > 0, j, last)
        horizon = horizon + use
        alive = use * (1.0 - jnp.maximum(data.terminated[j], data.truncated[j]))
    out = first.replace(
        reward=reward,
        next_obs=data.next_obs[last],
        terminated=data.terminated[last],
        truncated=data.truncated[last],
    )
    return out, horizon
