"""Soft Actor-Critic with the SimbaV2 critic (Haarnoja et al. 2018; Lee et al. 2025).

The learner's whole state is one ``SACState`` pytree and ``update`` is a pure
function of it. One update, in the published order:

1. actor step (current critic, current temperature), then weight projection;
2. temperature step on ``log alpha``, loss ``alpha * (entropy - target)``;
3. critic step with next actions from the *new* actor and the *new*
   temperature, then weight projection;
4. target critic EMA (not re-projected).

``update_many`` scans ``update`` over ``(utd, batch, ...)`` inside one jit.
"""

from __future__ import annotations

from functools import partial
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import optax
from flax import struct

from simbarl.agents import categorical
from simbarl.agents.common import ema, make_optimizer, project, tanh_gaussian_sample
from simbarl.config import AgentConfig
from simbarl.networks.heads import CriticEnsemble, TanhGaussianActor


@struct.dataclass
class Batch:
    """Transitions ready for a loss: normalized observations, scaled rewards."""

    obs: jnp.ndarray  # (batch, obs_dim)
    action: jnp.ndarray  # (batch, action_dim)
    reward: jnp.ndarray  # (batch,)
    next_obs: jnp.ndarray  # (batch, obs_dim)
    terminated: jnp.ndarray  # (batch,) 1.0 where the episode truly ended


@struct.dataclass
class SACState:
    actor: Any
    critic: Any
    target_critic: Any
    log_temp: jnp.ndarray
    actor_opt: Any
    critic_opt: Any
    temp_opt: Any
    key: jax.Array
    step: jnp.ndarray


class SAC:
    """Builds the networks and optimizers from a config; holds no mutable state."""

    def __init__(
        self,
        cfg: AgentConfig,
        obs_dim: int,
        action_dim: int,
        *,
        discount: float,
        num_critics: int,
        total_updates: int,
    ):
        self.cfg = cfg
        self.obs_dim, self.action_dim = obs_dim, action_dim
        self.discount = float(discount)
        self.num_critics = int(num_critics)
        c_shift = cfg.c_shift if cfg.input_shift else None
        self.actor_net = TanhGaussianActor(
            cfg.actor, action_dim, c_shift, cfg.log_std_min, cfg.log_std_max
        )
        self.categorical = cfg.critic_type == "categorical"
        num_bins = cfg.num_bins if self.categorical else 1
        self.critic_net = CriticEnsemble(cfg.critic, num_bins, self.num_critics, c_shift)
        self.bins = np.linspace(cfg.v_min, cfg.v_max, num_bins, dtype=np.float32)
        opt = partial(make_optimizer, cfg.learning_rate, cfg.learning_rate_end, total_updates)
        self.actor_tx = opt(cfg.weight_decay)
        self.critic_tx = opt(cfg.weight_decay)
        self.temp_tx = opt(0.0)
        self.target_entropy = -cfg.target_entropy_scale * action_dim
        self.update_many = jax.jit(self._update_many, donate_argnums=0)

    # ---------------------------------------------------------------- init
    def init(self, key: jax.Array) -> SACState:
        key, k_actor, k_critic = jax.random.split(key, 3)
        obs = jnp.zeros((1, self.obs_dim), jnp.float32)
        act = jnp.zeros((1, self.action_dim), jnp.float32)
        actor = self._project(self.actor_net.init(k_actor, obs))
        critic = self._project(self.critic_net.init(k_critic, obs, act))
        log_temp = jnp.asarray(np.log(self.cfg.temperature_init), jnp.float32)
        return SACState(
            actor=actor,
            critic=critic,
            target_critic=jax.tree.map(jnp.copy, critic),  # own buffers: state is donated
            log_temp=log_temp,
            actor_opt=self.actor_tx.init(actor),
            critic_opt=self.critic_tx.init(critic),
            temp_opt=self.temp_tx.init(log_temp),
            key=key,
            step=jnp.zeros((), jnp.int32),
        )

    def _project(self, params):
        return project(params) if self.cfg.weight_projection else params

    # -------------------------------------------------------------- acting
    def policy(self, actor_params, obs: jnp.ndarray, key: jax.Array | None = None):
        """Deterministic ``tanh(mean)`` when ``key`` is None, else a sample."""
        mean, log_std = self.actor_net.apply(actor_params, obs)
        if key is None:
            return jnp.tanh(mean)
        return tanh_gaussian_sample(mean, log_std, key)[0]

    def q_values(self, critic_params, obs, action) -> jnp.ndarray:
        """Expected Q of every critic, ``(num_critics, batch)``."""
        out = self.critic_net.apply(critic_params, obs, action)
        return categorical.mean(out, self.bins) if self.categorical else out

    # -------------------------------------------------------------- losses
    def actor_loss(self, actor_params, *, critic_params, log_temp, obs, key):
        mean, log_std = self.actor_net.apply(actor_params, obs)
        action, log_prob = tanh_gaussian_sample(mean, log_std, key)
        q = self.q_values(critic_params, obs, action).min(axis=0)  # (batch,)
        loss = jnp.mean(jnp.exp(log_temp) * log_prob - q)
        entropy = -jnp.mean(log_prob)
        metrics = {
            "actor/loss": loss,
            "actor/entropy": entropy,
            "actor/mean_log_std": jnp.mean(log_std),
        }
        return loss, (entropy, metrics)

    def temperature_loss(self, log_temp, *, entropy):
        loss = jnp.exp(log_temp) * (entropy - self.target_entropy)
        return loss, {"temperature/loss": loss, "temperature/value": jnp.exp(log_temp)}

    def critic_loss(self, critic_params, *, target_params, actor_params, log_temp, batch, key):
        mean, log_std = self.actor_net.apply(actor_params, batch.next_obs)
        next_action, next_log_prob = tanh_gaussian_sample(mean, log_std, key)
        alpha = jnp.exp(log_temp)
        not_done = 1.0 - batch.terminated  # truncation bootstraps; termination does not
        target_out = self.critic_net.apply(target_params, batch.next_obs, next_action)
        online_out = self.critic_net.apply(critic_params, batch.obs, batch.action)
        if self.categorical:
            probs = jax.nn.softmax(target_out, axis=-1)  # (critics, batch, bins)
            pick = jnp.argmin(jnp.sum(probs * self.bins, axis=-1), axis=0)  # (batch,)
            probs = jnp.take_along_axis(probs, pick[None, :, None], axis=0)[0]
            support = batch.reward[:, None] + self.discount * not_done[:, None] * (
                self.bins[None, :] - alpha * next_log_prob[:, None]
            )
            target = jax.lax.stop_gradient(categorical.project(support, probs, self.bins))
            log_p = jax.nn.log_softmax(online_out, axis=-1)  # (critics, batch, bins)
            loss = -jnp.sum(target[None] * log_p, axis=-1).mean(axis=-1).sum()
            q = jnp.sum(jnp.exp(log_p) * self.bins, axis=-1)
        else:
            next_q = target_out.min(axis=0) - alpha * next_log_prob
            target = jax.lax.stop_gradient(batch.reward + self.discount * not_done * next_q)
            loss = jnp.mean((online_out - target[None]) ** 2, axis=-1).sum()
            q = online_out
        return loss, {"critic/loss": loss, "critic/q": jnp.mean(q)}

    # -------------------------------------------------------------- update
    def update(self, state: SACState, batch: Batch) -> tuple[SACState, dict]:
        key, k_actor, k_critic = jax.random.split(state.key, 3)

        grads, (entropy, actor_metrics) = jax.grad(self.actor_loss, has_aux=True)(
            state.actor,
            critic_params=state.critic,
            log_temp=state.log_temp,
            obs=batch.obs,
            key=k_actor,
        )
        updates, actor_opt = self.actor_tx.update(grads, state.actor_opt, state.actor)
        actor = self._project(optax.apply_updates(state.actor, updates))

        grad, temp_metrics = jax.grad(self.temperature_loss, has_aux=True)(
            state.log_temp, entropy=jax.lax.stop_gradient(entropy)
        )
        updates, temp_opt = self.temp_tx.update(grad, state.temp_opt, state.log_temp)
        log_temp = optax.apply_updates(state.log_temp, updates)

        grads, critic_metrics = jax.grad(self.critic_loss, has_aux=True)(
            state.critic,
            target_params=state.target_critic,
            actor_params=actor,
            log_temp=log_temp,
            batch=batch,
            key=k_critic,
        )
        updates, critic_opt = self.critic_tx.update(grads, state.critic_opt, state.critic)
        critic = self._project(optax.apply_updates(state.critic, updates))
        target_critic = ema(critic, state.target_critic, self.cfg.tau)

        new_state = SACState(
            actor=actor,
            critic=critic,
            target_critic=target_critic,
            log_temp=log_temp,
            actor_opt=actor_opt,
            critic_opt=critic_opt,
            temp_opt=temp_opt,
            key=key,
            step=state.step + 1,
        )
        return new_state, {**actor_metrics, **temp_metrics, **critic_metrics}

    def _update_many(self, state: SACState, batches: Batch) -> tuple[SACState, dict]:
        """``update`` scanned over the leading (utd) axis; metrics averaged."""
        state, metrics = jax.lax.scan(self.update, state, batches)
        return state, jax.tree.map(jnp.mean, metrics)
