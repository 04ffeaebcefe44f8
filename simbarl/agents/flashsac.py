"""FlashSAC (Holiday-Robot/FlashSAC): SAC with batch-normalized networks, equal to the
official PyTorch update (``flash_rl/agents/flashSAC``, commit 87edc90).

One update ``k``, in the official order:

1. if ``k`` is even: actor step on the stacked batch ``[s; s']`` (2B rows, BatchNorm in
   training mode, so its statistics cover both halves; the first B rows enter the
   loss) against the critic in eval mode, then projection; temperature step;
2. critic step, with next actions from the *new* actor in eval mode and the *new*
   temperature: target critic and online critic both run in training mode on
   ``[(s, a); (s', a')]``; the target distribution comes from the target member of
   least expected value on the second half (ties: member 0), the cross-entropy
   (mean over members and batch) from the online critic's first half; projection;
3. target EMA of the critic's *parameters* (not its running statistics, not
   re-projected).

Adam without gradient clipping; every optimizer follows the cosine schedule of its
own step count, so the actor and temperature, stepping every second update, go
through half of it. The actor's and critics' variables are ``{"params",
"batch_stats"}``: the optimizers and the projection see ``params`` only.
"""

from __future__ import annotations

import math
from functools import partial

import jax
import jax.numpy as jnp
import optax

from simbarl.agents import categorical, td_losses
from simbarl.agents.actor_critic import TD_ERROR, Batch, LearnerState
from simbarl.agents.common import cosine_lr_schedule, ema, tanh_gaussian
from simbarl.agents.common import project as project_kernels
from simbarl.agents.exploration import HeldNoise, init_held_noise, next_held_noise
from simbarl.agents.sac import SAC
from simbarl.networks.flashsac import (
    BN_BIAS,
    BN_SCALE,
    RMS_SCALE,
    STATS,
    FlashSACActor,
    FlashSACCriticEnsemble,
)

PARAMS = "params"


def _sqrt_d_norm(x, sqsum):
    """``x sqrt(d) / sqrt(sqsum + 1e-8)``, ``d`` the last axis (per ensemble member)."""
    return x * math.sqrt(x.shape[-1]) * jax.lax.rsqrt(sqsum + 1e-8)


def project_norms(params):
    """Every BatchNorm's ``[scale; bias]`` jointly to norm ``sqrt(d)``, every RMSNorm's
    scale to norm ``sqrt(d)``, along the last axis (a leading ensemble axis is kept)."""
    if not isinstance(params, dict):
        return params
    out = {k: project_norms(v) for k, v in params.items()}
    if BN_SCALE in out:
        g, b = out[BN_SCALE], out[BN_BIAS]
        sqsum = jnp.sum(g * g + b * b, axis=-1, keepdims=True)
        out[BN_SCALE], out[BN_BIAS] = _sqrt_d_norm(g, sqsum), _sqrt_d_norm(b, sqsum)
    if RMS_SCALE in out:
        g = out[RMS_SCALE]
        out[RMS_SCALE] = _sqrt_d_norm(g, jnp.sum(g * g, axis=-1, keepdims=True))
    return out


def project(params):
    """FlashSAC's projection: unit rows of every linear layer, heads included (their
    kernels are ``(..., in, out)``: a row is a vector along axis -2), plus
    ``project_norms``; the heads' biases stay free."""
    return project_norms(project_kernels(params))


class FlashSAC(SAC):
    """FlashSAC's losses and order over the shared actor-critic pieces."""

    def make_actor(self):
        cfg = self.cfg
        return FlashSACActor(
            cfg.actor.width,
            cfg.actor.num_blocks,
            self.action_dim,
            cfg.log_std_min,
            cfg.log_std_max,
            matmul_dtype=cfg.matmul_dtype,
        )

    def make_critic(self):
        cfg = self.cfg
        return FlashSACCriticEnsemble(
            cfg.critic.width,
            cfg.critic.num_blocks,
            cfg.num_bins,
            self.num_critics,
            cfg.matmul_dtype,
        )

    def _optimizers(self) -> None:
        """Adam with ``cosine_lr_schedule`` over the run's updates for all three; each
        schedule counts its own optimizer's steps."""
        cfg, hyper = self.cfg, self.hyper

        def opt(scale):
            lr, end = scale * hyper["learning_rate"], scale * hyper["learning_rate_end"]
            sched = cosine_lr_schedule(lr, end, self.total_updates, cfg.learning_rate_decay)
            if cfg.weight_decay > 0:
                return optax.adamw(sched, weight_decay=cfg.weight_decay)
            return optax.adam(sched)

        self.actor_tx = opt(hyper["actor_lr_scale"])
        self.critic_tx = opt(hyper["critic_lr_scale"])
        self.temp_tx = optax.adam(
            cosine_lr_schedule(
                hyper["learning_rate"],
                hyper["learning_rate_end"],
                self.total_updates,
                cfg.learning_rate_decay,
            )
        )
        self.update_many = jax.jit(lambda s, b: self.learn(s, b)[:2], donate_argnums=0)

    # ---------------------------------------------------------------- init
    def project(self, variables):
        """The projection of a network's variables (``params``; statistics untouched)."""
        if not self.cfg.weight_projection:
            return variables
        return {**variables, PARAMS: project(variables[PARAMS])}

    def init(self, key: jax.Array) -> LearnerState:
        key, k_actor, k_critic = jax.random.split(key, 3)
        obs = jnp.zeros((1, self.obs_dim), jnp.float32)
        act = jnp.zeros((1, self.action_dim), jnp.float32)
        actor = self.project(self.actor_net.init(k_actor, obs))
        critic = self.project(self.critic_net.init(k_critic, obs, act))
        copy = partial(jax.tree.map, jnp.copy)  # own buffers: the state is donated
        log_temp = jnp.asarray(math.log(self.cfg.temperature_init), jnp.float32)
        return LearnerState(
            actor=actor,
            critic=critic,
            target_critic=copy(critic),
            target_actor=(),
            log_temp=log_temp,
            actor_opt=self.actor_tx.init(actor[PARAMS]),
            critic_opt=self.critic_tx.init(critic[PARAMS]),
            temp_opt=self.temp_tx.init(log_temp),
            key=key,
            step=jnp.zeros((), jnp.int32),
        )

    def apply_grads(self, tx, grads, opt_state, params, project: bool = True):
        """One optimizer step of a network's ``params`` (``params`` and ``grads`` may be
        whole variables: the running statistics pass through), then the projection."""
        if isinstance(params, dict) and PARAMS in params:
            g = grads[PARAMS] if isinstance(grads, dict) and PARAMS in grads else grads
            updates, opt_state = tx.update(g, opt_state, params[PARAMS])
            new = {**params, PARAMS: optax.apply_updates(params[PARAMS], updates)}
            return (self.project(new) if project else new), opt_state
        updates, opt_state = tx.update(grads, opt_state, params)
        return optax.apply_updates(params, updates), opt_state

    # -------------------------------------------------------------- acting
    def noise(self, key, shape):
        """The standard normal draw of a policy sample (parity tests inject theirs)."""
        return jax.random.normal(key, shape)

    def sample(self, mean, log_std, key):
        return tanh_gaussian(mean, log_std, self.noise(key, mean.shape))

    def policy(self, actor, obs: jnp.ndarray, key: jax.Array | None = None):
        """``tanh(mean)`` without ``key``, else a sample; BatchNorm in eval mode."""
        mean, log_std = self.actor_net.apply(actor, obs)
        if key is None:
            return jnp.tanh(mean)
        return self.sample(mean, log_std, key)[0]

    return_statistics = "flashsac"  # FlashSAC's RewardNormalizer (normalizers.MERGES)

    @staticmethod
    def init_noise(cfg, key, num_envs: int, action_dim: int) -> HeldNoise:
        """Noise repetition's state (``agents.exploration``): nothing held yet."""
        return init_held_noise(num_envs, action_dim)

    def explore(self, actor_params, obs, key, noise: HeldNoise, reset):
        """``tanh(mean + std * eps)`` with BatchNorm in eval mode, ``eps`` held for a
        zeta-distributed number of steps for all envs (not reset at episode ends)."""
        cfg = self.cfg
        eps, noise = next_held_noise(noise, key, cfg.noise_repeat_zeta, cfg.noise_repeat_max)
        mean, log_std = self.actor_net.apply(actor_params, obs)
        return tanh_gaussian(mean, log_std, eps)[0], noise

    # -------------------------------------------------------------- losses
    def actor_loss(self, params, *, stats, critic, log_temp, obs, next_obs, key, data_action=None):
        """``mean(alpha log pi - min_m Q_m)`` (+ BC) on the first half of a training-mode
        pass over ``[obs; next_obs]``; returns ``(loss, (entropy, new stats, metrics))``."""
        both = jnp.concatenate([obs, next_obs], axis=0)  # (2B, obs_dim)
        (mean, log_std), new = self.actor_net.apply(
            {PARAMS: params, STATS: stats}, both, train=True, mutable=[STATS]
        )
        action, log_prob = self.sample(mean, log_std, key)
        n = obs.shape[0]
        action, log_prob = action[:n], log_prob[:n]
        q = self.actor_q(self.q_values(critic, obs, action))  # critic in eval mode
        loss = jnp.mean(jnp.exp(log_temp) * log_prob - q)
        bc, bc_metrics = self.behaviour_cloning(q, action, data_action)
        entropy = -jnp.mean(log_prob)
        metrics = {
            "actor/loss": loss + bc,
            "actor/entropy": entropy,
            "actor/mean_action": jnp.mean(action),
            "actor/mean_log_std": jnp.mean(log_std[:n]),
            **bc_metrics,
        }
        return loss + bc, (entropy, new[STATS], metrics)

    def critic_loss(self, params, *, stats, target_critic, actor, log_temp, batch: Batch, key):
        """Cross-entropy to the projected target of the least-valued target member;
        returns ``(loss, (new stats, new target stats, metrics))``."""
        n = batch.obs.shape[0]
        mean, log_std = self.actor_net.apply(actor, batch.next_obs)  # eval mode
        next_action, next_log_prob = self.sample(mean, log_std, key)
        bonus = -jnp.exp(log_temp) * next_log_prob
        obs = jnp.concatenate([batch.obs, batch.next_obs], axis=0)  # (2B, obs_dim)
        act = jnp.concatenate([batch.action, next_action], axis=0)
        target, target_stats = self.critic_net.apply(target_critic, obs, act, train=True)
        online, new_stats = self.critic_net.apply({PARAMS: params, STATS: stats}, obs, act, True)
        gamma = self.bootstrap_discount(batch)
        weight = jnp.ones_like(batch.reward) if batch.weight is None else batch.weight
        loss, td, metrics = td_losses.categorical_loss(
            online[:, :n],
            jax.lax.stop_gradient(target[:, n:]),
            self.bins,
            reward=batch.reward,
            bootstrap=gamma * (1.0 - batch.terminated),
            bonus=jax.lax.stop_gradient(bonus),
            weight=weight,
        )
        loss = loss / self.num_critics  # the official mean over members and batch
        metrics = {
            **metrics,
            "critic/loss": loss,
            "critic/max_entropy_bonus": jnp.max(-bonus),
            TD_ERROR: td,
        }
        return loss, (new_stats, jax.lax.stop_gradient(target_stats), metrics)

    def bootstrap_discount(self, batch: Batch):
        """The discount of the TD target's bootstrap, ``(batch,)`` or a float.

        With n-step returns the official target uses ``gamma ** n_step`` for every
        transition, also one whose window an episode's end cut to ``m < n`` steps
        (``flash_rl/agents/flashSAC/update.py``, ``update_critic``: ``gamma=gamma**n_step``;
        the window is ``flash_rl/buffers/numpy_buffer.py``,
        ``_get_n_step_prev_transition``, whose reward sum stops at the first done and
        whose next observation and flags are that step's). After a termination the
        power is moot; after a truncation it bootstraps from ``s_{t+m}`` with
        ``gamma ** n``, not the ``gamma ** m`` of SAC, TD3 and TQC here. A window cut
        only by the newest data in the ring (which the official buffer has not stored
        yet) keeps ``gamma ** m``."""
        if batch.horizon is None:
            return self.discount
        power = batch.horizon
        if batch.truncated is not None:
            ended = jnp.maximum(batch.terminated, batch.truncated) > 0
            power = jnp.where(ended, float(self.n_step), power)
        return self.discount**power

    def q_values(self, critic, obs, action, member: int | None = None) -> jnp.ndarray:
        """Expected Q of every critic in eval mode, ``(num_critics, batch)``."""
        logits = self.critic_net.apply(critic, obs, action)
        if member is not None:
            logits = logits[member : member + 1]
        return categorical.mean(logits, self.bins)

    # -------------------------------------------------------------- update
    def policy_step(self, state: LearnerState, batch: Batch, key):
        """Actor then temperature, on every ``policy_delay``-th update."""

        def step(carry):
            actor, actor_opt, log_temp, temp_opt = carry
            grads, (entropy, stats, metrics) = jax.grad(self.actor_loss, has_aux=True)(
                actor[PARAMS],
                stats=actor[STATS],
                critic=state.critic,
                log_temp=log_temp,
                obs=batch.obs,
                next_obs=batch.next_obs,
                key=key,
                data_action=batch.action if self.cfg.bc_alpha > 0 else None,
            )
            actor, actor_opt = self.apply_grads(
                self.actor_tx, grads, actor_opt, {**actor, STATS: stats}
            )
            log_temp, temp_opt, temp_metrics = self.temperature_step(log_temp, temp_opt, entropy)
            return (actor, actor_opt, log_temp, temp_opt), {**metrics, **temp_metrics}

        carry = (state.actor, state.actor_opt, state.log_temp, state.temp_opt)
        return self.delayed(state.step, step, carry)

    def update(self, state: LearnerState, batch: Batch) -> tuple[LearnerState, dict]:
        key, k_actor, k_critic = jax.random.split(state.key, 3)
        (actor, actor_opt, log_temp, temp_opt), policy_metrics, ran = self.policy_step(
            state, batch, k_actor
        )
        critic = state.critic
        grads, (stats, target_stats, critic_metrics) = jax.grad(self.critic_loss, has_aux=True)(
            critic[PARAMS],
            stats=critic[STATS],
            target_critic=state.target_critic,
            actor=actor,
            log_temp=log_temp,
            batch=batch,
            key=k_critic,
        )
        critic, critic_opt = self.apply_grads(
            self.critic_tx, grads, state.critic_opt, {**critic, STATS: stats}
        )
        target = {
            PARAMS: ema(critic[PARAMS], state.target_critic[PARAMS], self.hyper["tau"]),
            STATS: target_stats,
        }
        new_state = state.replace(
            actor=actor,
            critic=critic,
            target_critic=target,
            log_temp=log_temp,
            actor_opt=actor_opt,
            critic_opt=critic_opt,
            temp_opt=temp_opt,
            key=key,
            step=state.step + 1,
        )
        return new_state, {**policy_metrics, **critic_metrics, "actor/ran": ran}

    def gradients(self, state: LearnerState, batch: Batch, key):
        """``(actor grads, critic grads)`` as whole variables (zero for the running
        statistics, which are not trained), at ``state`` on ``batch``."""
        k_actor, k_critic = jax.random.split(key)
        actor_grads, _ = jax.grad(self.actor_loss, has_aux=True)(
            state.actor[PARAMS],
            stats=state.actor[STATS],
            critic=state.critic,
            log_temp=state.log_temp,
            obs=batch.obs,
            next_obs=batch.next_obs,
            key=k_actor,
        )
        critic_grads, _ = jax.grad(self.critic_loss, has_aux=True)(
            state.critic[PARAMS],
            stats=state.critic[STATS],
            target_critic=state.target_critic,
            actor=state.actor,
            log_temp=state.log_temp,
            batch=batch,
            key=k_critic,
        )
        zeros = partial(jax.tree.map, jnp.zeros_like)
        return (
            {PARAMS: actor_grads, STATS: zeros(state.actor[STATS])},
            {PARAMS: critic_grads, STATS: zeros(state.critic[STATS])},
        )
