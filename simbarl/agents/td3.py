"""TD3 (Fujimoto et al. 2018) and DDPG (Lillicrap et al. 2016): deterministic policies.

TD3 update, as in the paper:

1. critic step toward ``r + gamma * min_i Q_i'(s', a')`` with the *target*
   policy's action smoothed by clipped Gaussian noise,
   ``a' = clip(pi'(s') + clip(N(0, policy_noise), -noise_clip, noise_clip), -1, 1)``,
   then weight projection;
2. every ``policy_delay``-th update: actor step maximizing the first critic's
   Q(s, pi(s)), then projection, then the EMA of both target networks.

DDPG is the same update with one critic, no smoothing noise and no delay:
``DDPG`` only changes the defaults that ``run_dir.resolve`` fills in. With a
categorical critic this is FastTD3's distributional TD3 (Seo et al. 2025).
Exploration adds per-env Gaussian or Ornstein-Uhlenbeck noise to the action
(``agents.exploration``).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

from simbarl.agents.actor_critic import ActorCritic, Batch, LearnerState
from simbarl.agents.common import ema
from simbarl.agents.exploration import sample_noise
from simbarl.networks.heads import DeterministicActor


class TD3(ActorCritic):
    has_target_actor = True

    def make_actor(self):
        return DeterministicActor(
            self.cfg.actor, self.action_dim, self.c_shift, self.cfg.matmul_dtype
        )

    # -------------------------------------------------------------- acting
    def policy(self, actor_params, obs: jnp.ndarray, key: jax.Array | None = None):
        """``pi(s)`` when ``key`` is None, else ``clip(pi(s) + N(0, sigma), -1, 1)``."""
        action = self.actor_net.apply(actor_params, obs)
        if key is None:
            return action
        noise = self.hyper["exploration_noise"] * jax.random.normal(key, action.shape)
        return jnp.clip(action + noise, -1.0, 1.0)

    def explore(self, actor_params, obs, key, noise, reset):
        """``clip(pi(s) + noise, -1, 1)`` with per-env Gaussian or OU noise."""
        eps, noise = sample_noise(self.cfg, noise, key, reset, self.hyper["exploration_noise"])
        return jnp.clip(self.actor_net.apply(actor_params, obs) + eps, -1.0, 1.0), noise

    # -------------------------------------------------------------- losses
    def actor_loss(self, actor_params, *, critic_params, obs, data_action=None):
        action = self.actor_net.apply(actor_params, obs)
        q = self.q_values(critic_params, obs, action, member=0)[0]  # first critic, as in TD3
        bc, bc_metrics = self.behaviour_cloning(q, action, data_action)  # TD3+BC
        loss = -jnp.mean(q) + bc
        metrics = {"actor/loss": loss, "actor/action_abs": jnp.mean(jnp.abs(action))}
        return loss, {**metrics, **bc_metrics}

    def next_action(self, target_actor_params, next_obs, key):
        """Target policy smoothing: clipped noise on the target policy's action."""
        action = self.actor_net.apply(target_actor_params, next_obs)
        cfg = self.cfg
        noise = cfg.policy_noise * jax.random.normal(key, action.shape)
        noise = jnp.clip(noise, -cfg.noise_clip, cfg.noise_clip)
        return jnp.clip(action + noise, -1.0, 1.0)

    def critic_loss(self, critic_params, *, target_params, target_actor_params, batch, key):
        next_action = self.next_action(target_actor_params, batch.next_obs, key)
        return self.td_loss(
            critic_params,
            target_params=target_params,
            batch=batch,
            next_action=next_action,
            bonus=jnp.zeros_like(batch.reward),
        )

    def gradients(self, state: LearnerState, batch: Batch, key):
        actor_grads, _ = jax.grad(self.actor_loss, has_aux=True)(
            state.actor, critic_params=state.critic, obs=batch.obs, data_action=batch.action
        )
        critic_grads, _ = jax.grad(self.critic_loss, has_aux=True)(
            state.critic,
            target_params=state.target_critic,
            target_actor_params=state.target_actor,
            batch=batch,
            key=key,
        )
        return actor_grads, critic_grads

    # -------------------------------------------------------------- update
    def update(self, state: LearnerState, batch: Batch) -> tuple[LearnerState, dict]:
        key, k_critic = jax.random.split(state.key)
        grads, critic_metrics = jax.grad(self.critic_loss, has_aux=True)(
            state.critic,
            target_params=state.target_critic,
            target_actor_params=state.target_actor,
            batch=batch,
            key=k_critic,
        )
        critic, critic_opt = self.apply_grads(self.critic_tx, grads, state.critic_opt, state.critic)

        def policy_step(carry):
            actor, actor_opt, target_actor, target_critic = carry
            grads, metrics = jax.grad(self.actor_loss, has_aux=True)(
                actor, critic_params=critic, obs=batch.obs, data_action=batch.action
            )
            actor, actor_opt = self.apply_grads(self.actor_tx, grads, actor_opt, actor)
            target_actor = ema(actor, target_actor, self.hyper["tau"])
            target_critic = ema(critic, target_critic, self.hyper["tau"])
            return (actor, actor_opt, target_actor, target_critic), metrics

        carry = (state.actor, state.actor_opt, state.target_actor, state.target_critic)
        carry, actor_metrics, ran = self.delayed(state.step, policy_step, carry)
        actor, actor_opt, target_actor, target_critic = carry
        new_state = state.replace(
            actor=actor,
            critic=critic,
            target_critic=target_critic,
            target_actor=target_actor,
            actor_opt=actor_opt,
            critic_opt=critic_opt,
            key=key,
            step=state.step + 1,
        )
        return new_state, {**actor_metrics, **critic_metrics, "actor/ran": ran}


class DDPG(TD3):
    """TD3's update with DDPG's settings (one critic, no smoothing, no delay)."""
