"""Soft Actor-Critic with the SimbaV2 critic (Haarnoja et al. 2018; Lee et al. 2025).

One update, in the published order:

1. actor step (current critic, current temperature), then weight projection;
2. temperature step on ``log alpha``, loss ``alpha * (entropy - target)``;
3. critic step with next actions from the *new* actor and the *new*
   temperature, then weight projection;
4. target critic EMA (not re-projected).

With ``policy_delay`` d > 1, steps 1-2 run on every d-th update only (the
option many-env robot training uses); the critic steps every update.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

from simbarl.agents.actor_critic import ActorCritic, Batch, LearnerState
from simbarl.agents.common import ema, gaussian_sample
from simbarl.networks.heads import TanhGaussianActor

__all__ = ["SAC", "Batch", "LearnerState"]


class SAC(ActorCritic):
    has_temperature = True

    def make_actor(self):
        cfg = self.cfg
        return TanhGaussianActor(
            cfg.actor,
            self.action_dim,
            self.c_shift,
            cfg.log_std_min,
            cfg.log_std_max,
            cfg.state_dependent_std,
            cfg.matmul_dtype,
        )

    def sample(self, mean, log_std, key):
        return gaussian_sample(mean, log_std, key, self.cfg.squash)

    @property
    def target_entropy(self) -> float:
        if self.cfg.target_entropy is not None:
            return float(self.cfg.target_entropy)
        return -self.hyper["target_entropy_scale"] * self.action_dim

    # -------------------------------------------------------------- acting
    def policy(self, actor_params, obs: jnp.ndarray, key: jax.Array | None = None):
        """Deterministic ``tanh(mean)`` (unsquashed: the clipped mean) when ``key``
        is None, else a sample."""
        mean, log_std = self.actor_net.apply(actor_params, obs)
        if key is None:
            return jnp.tanh(mean) if self.cfg.squash else jnp.clip(mean, -1.0, 1.0)
        return self.sample(mean, log_std, key)[0]

    def actor_q(self, q: jnp.ndarray) -> jnp.ndarray:
        """The value the actor maximizes from ``(critics, batch)``: the minimum."""
        return q.min(axis=0)

    # -------------------------------------------------------------- losses
    def actor_loss(self, actor_params, *, critic_params, log_temp, obs, key, data_action=None):
        mean, log_std = self.actor_net.apply(actor_params, obs)
        action, log_prob = self.sample(mean, log_std, key)
        q = self.actor_q(self.q_values(critic_params, obs, action))  # (batch,)
        loss = jnp.mean(jnp.exp(log_temp) * log_prob - q)
        if self.cfg.action_penalty > 0:
            loss = loss + self.cfg.action_penalty * jnp.mean(mean**2)
        bc, bc_metrics = self.behaviour_cloning(q, action, data_action)
        loss = loss + bc
        entropy = -jnp.mean(log_prob)
        metrics = {
            "actor/loss": loss,
            "actor/entropy": entropy,
            "actor/mean_log_std": jnp.mean(log_std),
            **bc_metrics,
        }
        return loss, (entropy, metrics)

    def temperature_loss(self, log_temp, *, entropy):
        loss = jnp.exp(log_temp) * (entropy - self.target_entropy)
        return loss, {"temperature/loss": loss, "temperature/value": jnp.exp(log_temp)}

    def temperature_step(self, log_temp, temp_opt, entropy):
        """``(log_temp, temp_opt, metrics)`` after one step toward the target entropy
        (none with ``--no-agent.learn-temperature``)."""
        if not self.cfg.learn_temperature:
            _, metrics = self.temperature_loss(log_temp, entropy=entropy)
            return log_temp, temp_opt, metrics
        grad, metrics = jax.grad(self.temperature_loss, has_aux=True)(
            log_temp, entropy=jax.lax.stop_gradient(entropy)
        )
        log_temp, temp_opt = self.apply_grads(self.temp_tx, grad, temp_opt, log_temp, project=False)
        return log_temp, temp_opt, metrics

    def next_action(self, actor_params, log_temp, next_obs, key):
        """``(a', bonus)``: a sample of the current policy and ``-alpha log pi(a'|s')``."""
        mean, log_std = self.actor_net.apply(actor_params, next_obs)
        action, log_prob = self.sample(mean, log_std, key)
        return action, -jnp.exp(log_temp) * log_prob

    def critic_loss(self, critic_params, *, target_params, actor_params, log_temp, batch, key):
        next_action, bonus = self.next_action(actor_params, log_temp, batch.next_obs, key)
        return self.td_loss(
            critic_params,
            target_params=target_params,
            batch=batch,
            next_action=next_action,
            bonus=bonus,
        )

    def gradients(self, state: LearnerState, batch: Batch, key):
        k_actor, k_critic = jax.random.split(key)
        actor_grads, _ = jax.grad(self.actor_loss, has_aux=True)(
            state.actor,
            critic_params=state.critic,
            log_temp=state.log_temp,
            obs=batch.obs,
            key=k_actor,
            data_action=batch.action,
        )
        critic_grads, _ = jax.grad(self.critic_loss, has_aux=True)(
            state.critic,
            target_params=state.target_critic,
            actor_params=state.actor,
            log_temp=state.log_temp,
            batch=batch,
            key=k_critic,
        )
        return actor_grads, critic_grads

    # -------------------------------------------------------------- update
    def policy_step(self, state: LearnerState, obs, key, data_action=None):
        """Actor then temperature (steps 1-2); returns the new parts and metrics."""

        def step(carry):
            actor, actor_opt, log_temp, temp_opt = carry
            grads, (entropy, metrics) = jax.grad(self.actor_loss, has_aux=True)(
                actor,
                critic_params=state.critic,
                log_temp=log_temp,
                obs=obs,
                key=key,
                data_action=data_action,
            )
            actor, actor_opt = self.apply_grads(self.actor_tx, grads, actor_opt, actor)
            log_temp, temp_opt, temp_metrics = self.temperature_step(log_temp, temp_opt, entropy)
            return (actor, actor_opt, log_temp, temp_opt), {**metrics, **temp_metrics}

        carry = (state.actor, state.actor_opt, state.log_temp, state.temp_opt)
        return self.delayed(state.step, step, carry)

    def update(self, state: LearnerState, batch: Batch) -> tuple[LearnerState, dict]:
        key, k_actor, k_critic = jax.random.split(state.key, 3)
        (actor, actor_opt, log_temp, temp_opt), policy_metrics, ran = self.policy_step(
            state, batch.obs, k_actor, batch.action
        )
        grads, critic_metrics = jax.grad(self.critic_loss, has_aux=True)(
            state.critic,
            target_params=state.target_critic,
            actor_params=actor,
            log_temp=log_temp,
            batch=batch,
            key=k_critic,
        )
        critic, critic_opt = self.apply_grads(self.critic_tx, grads, state.critic_opt, state.critic)
        new_state = state.replace(
            actor=actor,
            critic=critic,
            target_critic=ema(critic, state.target_critic, self.hyper["tau"]),
            log_temp=log_temp,
            actor_opt=actor_opt,
            critic_opt=critic_opt,
            temp_opt=temp_opt,
            key=key,
            step=state.step + 1,
        )
        return new_state, {**policy_metrics, **critic_metrics, "actor/ran": ran}
