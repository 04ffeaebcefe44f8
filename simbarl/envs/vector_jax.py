"""Batched pure-JAX environments for the device loop: auto-reset that keeps the
true final observation, the time limit, action repeat and action bounds.

A *JAX env* is any object with ``reset(key) -> state`` and ``step(state, action)
-> state`` for one environment, where ``state`` has ``obs``, ``reward`` and
``done`` fields: MuJoCo Playground's ``MjxEnv`` and ``State`` as they are, and
simbarl's own pure-JAX tasks (``envs/toy.py``). ``VecEnv`` vmaps it over ``n``
environments and adds what the Playground training wrappers do not give an
off-policy learner: the observation *before* an automatic reset (the replay
needs it as ``next_obs``), and ``terminated`` kept apart from ``truncated``
(the time limit, counted here in raw simulator steps as the host loop does).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
from flax import struct

from simbarl.envs.bounds import to_bounds


@struct.dataclass
class VecState:
    inner: Any  # the env's own state, batched (n, ...)
    t: jnp.ndarray  # (n,) raw simulator steps taken in the episode
    key: jax.Array  # for the next automatic resets


class VecStep(NamedTuple):
    state: VecState
    obs: jnp.ndarray  # (n, obs_dim) observation to act on (after any reset)
    final_obs: jnp.ndarray  # (n, obs_dim) observation the action led to (before reset)
    reward: jnp.ndarray  # (n,) summed over the action repeat
    terminated: jnp.ndarray  # (n,) float 1.0: the MDP ended (no bootstrap)
    truncated: jnp.ndarray  # (n,) float 1.0: time limit reached (bootstrap)


def _where(mask: jnp.ndarray, new, old):
    """Per env (leading axis): ``new`` where ``mask``, else ``old``, for any pytree."""

    def pick(a, b):
        m = mask.reshape(mask.shape + (1,) * (jnp.ndim(a) - 1))
        return jnp.where(m, a, b)

    return jax.tree.map(pick, new, old)


class VecEnv:
    """``n`` copies of a JAX env stepped together; every method is jittable.

    ``obs_fn`` turns the env state into a flat float observation (Playground's
    locomotion tasks return a dict; the policy sees its ``"state"`` entry).
    Actions come in ``[-1, 1]`` and are mapped affinely to ``[low, high]``.
    """

    def __init__(
        self,
        env,
        num_envs: int,
        episode_length: int,
        action_repeat: int = 1,
        low=None,
        high=None,
        obs_fn: Callable | None = None,
    ):
        self.env = env
        self.num_envs = num_envs
        self.episode_length = episode_length
        self.action_repeat = action_repeat
        self.low = None if low is None else jnp.asarray(low, jnp.float32)
        self.high = None if high is None else jnp.asarray(high, jnp.float32)
        self.obs_fn = obs_fn or (lambda s: s.obs)

    def _obs(self, inner) -> jnp.ndarray:
        obs = self.obs_fn(inner).astype(jnp.float32)
        return jnp.nan_to_num(obs.reshape(obs.shape[0], -1), posinf=0.0, neginf=0.0)

    def _reset_inner(self, key):
        return jax.vmap(self.env.reset)(jax.random.split(key, self.num_envs))

    def reset(self, key: jax.Array) -> tuple[VecState, jnp.ndarray]:
        key, k_reset = jax.random.split(key)
        inner = self._reset_inner(k_reset)
        t = jnp.zeros((self.num_envs,), jnp.int32)
        return VecState(inner, t, key), self._obs(inner)

    def step(self, vs: VecState, action: jnp.ndarray, auto_reset: bool = True) -> VecStep:
        """Step every env ``action_repeat`` times (an env that ends stops there).

        With ``auto_reset`` envs that ended start a new episode; their ``obs``
        is the new episode's first observation and ``final_obs`` the last one
        of the episode that ended. Without it, ended envs stay as they are.
        """
        if self.low is not None:
            action = to_bounds(action, self.low, self.high)
        inner, t = vs.inner, vs.t
        alive = jnp.ones((self.num_envs,), bool)
        reward = jnp.zeros((self.num_envs,), jnp.float32)
        terminated = jnp.zeros((self.num_envs,), bool)
        for _ in range(self.action_repeat):
            new = jax.vmap(self.env.step)(inner, action)
            inner = _where(alive, new, inner)
            reward = reward + jnp.where(alive, jnp.nan_to_num(new.reward), 0.0)
            t = t + alive
            terminated = terminated | (alive & (new.done > 0))
            alive = alive & ~terminated & (t < self.episode_length)
        truncated = (t >= self.episode_length) & ~terminated
        final_obs = self._obs(inner)
        done = terminated | truncated
        key = vs.key
        if auto_reset:
            key, k_reset = jax.random.split(key)
            fresh = jax.lax.cond(done.any(), lambda: self._reset_inner(k_reset), lambda: inner)
            inner = _where(done, fresh, inner)
            t = jnp.where(done, 0, t)
        state = VecState(inner, t, key)
        f32 = lambda x: x.astype(jnp.float32)
        obs = self._obs(inner) if auto_reset else final_obs
        return VecStep(state, obs, final_obs, reward, f32(terminated), f32(truncated))


def run_episodes(
    venv: VecEnv, policy, key: jax.Array, layout: Callable | None = None
) -> tuple[jnp.ndarray, jnp.ndarray]:
    """One episode in each of ``venv``'s envs with ``policy(obs) -> action``.

    ``layout``: lays out the episodes' state over several devices (a sharding
    constraint), or None. Returns ``(returns (n,), lengths (n,) in agent steps)``; jittable.
    """
    layout = layout or (lambda tree: tree)
    steps = -(-venv.episode_length // venv.action_repeat)
    state, obs = venv.reset(key)

    def body(carry, _):
        state, obs, alive, ret, length = carry
        out = venv.step(state, policy(obs), auto_reset=False)
        ret = ret + jnp.where(alive, out.reward, 0.0)
        length = length + alive
        alive = alive & (out.terminated + out.truncated == 0)
        return layout((out.state, out.obs, alive, ret, length)), None

    n = venv.num_envs
    init = layout((state, obs, jnp.ones((n,), bool), jnp.zeros((n,)), jnp.zeros((n,), jnp.int32)))
    (_, _, _, returns, lengths), _ = jax.lax.scan(body, init, None, length=steps)
    return returns, lengths
