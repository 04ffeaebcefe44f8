"""Exploration noise of the deterministic policies (TD3, DDPG), per training env.

* Gaussian: ``a = clip(pi(s) + sigma_e * N(0, I), -1, 1)``. With
  ``exploration_noise_max`` set, each env ``e`` draws its own ``sigma_e``
  uniformly from ``[exploration_noise, exploration_noise_max]`` at every
  episode start, as FastTD3 does with many parallel envs: some envs explore
  widely while others refine.
* Ornstein-Uhlenbeck (DDPG's original): temporally correlated noise
  ``x <- x - theta * x + sigma_e * N(0, I)``, reset to zero at episode start.

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
