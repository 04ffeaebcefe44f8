"""Recency-weighted ("linear decay") replay: newer transitions are drawn more often.

A transition's *age* ``a`` is the number of transitions written to the ring after
it (0: the newest), in the buffer's write order. With ``E`` parallel envs each
agent step writes ``E`` transitions one after another, so the transitions of one
step have ages ``a .. a + E - 1``: ``N`` counts transitions, as ``--buffer-size``
does, and one step's weights differ by at most ``(E - 1) / N``. Over the ``S``
filled slots, age ``a`` is drawn with probability proportional to

    f(a) = max(w, 1 - a / N)        (N = decay steps, w = floor weight in [0, 1])

as CleanRL-JAX's ``linear_decay_steps`` does for ``w = 0``. Ages are drawn
directly, in O(1) per draw with no pass over the buffer, and exactly on the
integers (not a continuous density rounded): with ``c = 1 - w``,

    f(a) = w + max(0, c - a / N) = w + [a < K] (b + (K - 1 - a)) / N,

where ``K = min(S, ceil(N c))`` ages have a positive ramp and ``b = N c - K + 1``
is in ``(0, 1]`` when the ramp ends inside the buffer. So ``f`` is a mixture of
three exact pieces: uniform over the ``S`` ages (mass ``w S``), uniform over the
first ``K`` ages (mass ``b K / N``), and a discrete triangle over them (mass
``K (K - 1) / 2N``). The triangle ``P(j) = 2j / K(K-1)`` is the larger of two
distinct uniform integers in ``[0, K)``, drawn as ``i`` and ``i + d mod K`` with
``d`` uniform in ``[1, K)``. Only the mixture's choice uses floating point.

The sampler is stateless given the buffer's ``pos``/``size`` and the key, so a
resumed run draws exactly what an uninterrupted one would.
"""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp

from simbarl.replay.buffer import ReplayBuffer


def recency_ages(
    key: jax.Array, shape: tuple[int, ...], size, decay_steps: int, min_weight: float
) -> jnp.ndarray:
    """Ages in ``[0, size)`` of ``shape``, each drawn with weight ``max(w, 1 - a / N)``.

    ``size`` may be traced (the filled part of the ring); ``decay_steps`` (N > 0) and
    ``min_weight`` (w) are static. Works under ``jit`` and ``vmap``.
    """
    c = 1.0 - min_weight
    reach = math.ceil(decay_steps * c)  # ages a < N c have a positive ramp
    size = jnp.maximum(jnp.asarray(size, jnp.int32), 1)
    k = jnp.minimum(size, reach)  # ramp support [0, k)
    k_safe = jnp.maximum(k, 1)
    kf, sf = k.astype(jnp.float32), size.astype(jnp.float32)
    floor_mass = min_weight * sf
    base = jnp.maximum(decay_steps * c - kf + 1.0, 0.0)  # b; >= 0 but for float round-off
    flat_mass = base * kf / decay_steps
    tri_mass = kf * (kf - 1.0) / (2.0 * decay_steps)  # floats: k^2 overflows int32

    k_pick, k_floor, k_flat, k_first, k_gap = jax.random.split(key, 5)
    u = jax.random.uniform(k_pick, shape) * (floor_mass + flat_mass + tri_mass)
    floor_age = jax.random.randint(k_floor, shape, 0, size)
    flat_age = jax.random.randint(k_flat, shape, 0, k_safe)
    first = jax.random.randint(k_first, shape, 0, k_safe)
    second = (first + jax.random.randint(k_gap, shape, 1, jnp.maximum(k, 2))) % k_safe
    tri_age = k_safe - 1 - jnp.maximum(first, second)  # P(age) proportional to k - 1 - age
    ramp_age = jnp.where(u < floor_mass + flat_mass, flat_age, tri_age)
    return jnp.where(u < floor_mass, floor_age, ramp_age)


def recency_indices(
    buffer: ReplayBuffer,
    key: jax.Array,
    shape: tuple[int, ...],
    decay_steps: int,
    min_weight: float,
) -> jnp.ndarray:
    """Slots of the filled ring drawn by ``recency_ages``; ``shape`` such as ``(utd, batch)``.

    The newest slot is ``pos - 1`` and age ``a`` sits ``a`` slots before it, wrapping.
    """
    age = recency_ages(key, shape, buffer.size, decay_steps, min_weight)
    return (buffer.pos - 1 - age) % buffer.capacity
