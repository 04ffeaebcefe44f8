"""Exploration noise of the deterministic policies (TD3, DDPG), per training env.

* Gaussian: ``a = clip(pi(s) + sigma_e * N(0, I), -1, 1)``. With
  ``exploration_noise_max`` set, each env ``e`` draws its own ``sigma_e``
  uniformly from ``[exploration_noise, exploration_noise_max]`` at every
  episode start, as FastTD3 does with many parallel envs: some envs explore
  widely while others refine.
* Ornstein-Uhlenbeck (DDPG's original): temporally correlated noise
  ``x <- x - theta * x + sigma_e * N(0, I)``, reset to zero at episode start.

* Held noise (FlashSAC's noise repetition): one ``N(0, I)`` vector per env is
  held for ``k`` env steps, ``k`` drawn from a zeta law truncated to
  ``1..repeat_max`` (``P(k) ~ k^-zeta``); one ``(count, k)`` pair for all envs,
  not reset at episode ends. The stochastic policy acts as ``tanh(mu + sigma eps)``.

The state is one small pytree carried by the training loop (and checkpointed
with it); all randomness comes from the key passed in.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
from flax import struct

from simbarl.config import AgentConfig


@struct.dataclass
class NoiseState:
    scale: jnp.ndarray  # (num_envs,) each env's sigma
    ou: jnp.ndarray  # (num_envs, action_dim) the OU process (zeros for Gaussian)


def _scales(cfg: AgentConfig, key: jax.Array, n: int, low=None) -> jnp.ndarray:
    lo = cfg.exploration_noise if low is None else low
    hi = lo if cfg.exploration_noise_max is None else cfg.exploration_noise_max
    return jax.random.uniform(key, (n,), minval=lo, maxval=hi)


def init_noise(cfg: AgentConfig, key: jax.Array, num_envs: int, action_dim: int) -> NoiseState:
    return NoiseState(
        scale=_scales(cfg, key, num_envs), ou=jnp.zeros((num_envs, action_dim), jnp.float32)
    )


def sample_noise(cfg: AgentConfig, state: NoiseState, key: jax.Array, reset: jnp.ndarray, low=None):
    """``(noise (num_envs, action_dim), new state)``; ``reset`` marks new episodes.
    ``low``: the exploration noise (the lowest with ``exploration_noise_max``) when it
    is not ``cfg``'s (an agent's ``hyper``)."""
    k_scale, k_eps = jax.random.split(key)
    reset = reset.astype(bool)
    scale = jnp.where(reset, _scales(cfg, k_scale, reset.shape[0], low), state.scale)
    eps = scale[:, None] * jax.random.normal(k_eps, state.ou.shape)
    if cfg.noise_type == "ou":
        ou = jnp.where(reset[:, None], 0.0, state.ou)
        ou = ou - cfg.ou_theta * ou + eps
        return ou, NoiseState(scale=scale, ou=ou)
    return eps, NoiseState(scale=scale, ou=state.ou)


@struct.dataclass
class HeldNoise:
    eps: jnp.ndarray  # (num_envs, action_dim) the vectors being held
    count: jnp.ndarray  # () int32 steps the vectors have been used
    hold: jnp.ndarray  # () int32 steps they are held for


def init_held_noise(num_envs: int, action_dim: int) -> HeldNoise:
    """FlashSAC's start: nothing held yet (count 0, hold 1)."""
    return HeldNoise(
        eps=jnp.zeros((num_envs, action_dim), jnp.float32),
        count=jnp.zeros((), jnp.int32),
        hold=jnp.ones((), jnp.int32),
    )


def zeta_cdf(zeta: float, repeat_max: int) -> jnp.ndarray:
    """``(repeat_max,)`` the CDF of the truncated zeta law ``P(k) ~ k^-zeta`` on
    ``1..repeat_max`` (FlashSAC's ``_build_truncated_zeta_cdf``)."""
    k = jnp.arange(1, repeat_max + 1, dtype=jnp.float32)
    weights = k**-zeta
    return jnp.cumsum(weights) / jnp.sum(weights)


def zeta_hold(key: jax.Array, zeta: float, repeat_max: int) -> jnp.ndarray:
    """A hold ``k`` in ``1..repeat_max`` with ``P(k) ~ k^-zeta``: ``1 + #{CDF_j <= u}``
    for ``u ~ U[0, 1)`` (FlashSAC's ``1 + argmax(u < CDF)``)."""
    u = jax.random.uniform(key)
    return (1 + jnp.sum(zeta_cdf(zeta, repeat_max) <= u)).astype(jnp.int32)


def next_held_noise(state: HeldNoise, key: jax.Array, zeta: float, repeat_max: int):
    """``(eps, new state)`` for one training step: new vectors and a new hold when
    nothing is held yet or the hold is used up, else the held ones."""
    k_eps, k_hold = jax.random.split(key)
    renew = (state.count == 0) | (state.count >= state.hold)
    eps = jnp.where(renew, jax.random.normal(k_eps, state.eps.shape), state.eps)
    hold = jnp.where(renew, zeta_hold(k_hold, zeta, repeat_max), state.hold)
    count = jnp.where(renew, 0, state.count) + 1
    return eps, HeldNoise(eps=eps, count=count.astype(jnp.int32), hold=hold)
