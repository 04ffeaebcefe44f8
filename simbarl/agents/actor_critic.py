"""What every off-policy actor-critic here shares; an algorithm adds its losses and order.

``ActorCritic`` owns the critic ensemble (scalar, categorical or quantile
head on any encoder), the optimizers with their linear learning-rate decay,
the weight projection, the target EMA, the TD loss dispatch, the policy
delay and the ``lax.scan`` over UTD updates (``learn``, ``update_many``).
``SAC``, ``TQC``, ``TD3`` and ``DDPG`` subclass it with an actor module, an
actor loss, the next action their TD target uses, and an update order.

The learner's whole state is one ``LearnerState`` pytree. Fields an algorithm
does not use hold an empty tuple: SAC/TQC have no target actor, TD3/DDPG no
temperature.
"""

from __future__ import annotations

import copy
from functools import partial
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import optax
from flax import struct

from simbarl.agents import categorical, td_losses
from simbarl.agents.common import make_optimizer, project, restart_optimizer
from simbarl.agents.exploration import init_noise
from simbarl.config import AgentConfig, vmapped
from simbarl.networks.heads import CriticEnsemble

# Metrics of the delayed (actor) step are averaged over the steps that ran it.
DELAYED_PREFIXES = ("actor/", "temperature/")


def reported_metrics(metrics: dict) -> dict[str, float]:
    """Floats of a call's last metrics, without the actor's when it did not step."""
    metrics = {k: float(v) for k, v in jax.device_get(metrics).items()}
    if metrics.get("actor/updates") == 0:  # a delayed actor did not step in that call
        metrics = {k: v for k, v in metrics.items() if not k.startswith(DELAYED_PREFIXES)}
    return metrics


# Per-sample |TD error| of the critic step; ``learn`` returns it apart from the metrics.
TD_ERROR = "replay/td_error"


@struct.dataclass
class Batch:
    """Transitions ready for a loss: normalized observations, scaled rewards."""

    obs: jnp.ndarray  # (batch, obs_dim)
    action: jnp.ndarray  # (batch, action_dim)
    reward: jnp.ndarray  # (batch,)
    next_obs: jnp.ndarray  # (batch, obs_dim)
    terminated: jnp.ndarray  # (batch,) 1.0 where the episode truly ended
    horizon: jnp.ndarray | None = None  # (batch,) steps m of an n-step reward; None: 1
    # (batch,) 1.0 where an n-step window ended at a time limit (FlashSAC's discount
    # reads it); None without n-step returns
    truncated: jnp.ndarray | None = None
    weight: jnp.ndarray | None = None  # (batch,) importance weights; None: ones


@struct.dataclass
class LearnerState:
    actor: Any
    critic: Any
    target_critic: Any
    target_actor: Any  # () unless the algorithm has a target policy (TD3/DDPG)
    log_temp: Any  # () unless the algorithm has an entropy temperature (SAC/TQC)
    actor_opt: Any
    critic_opt: Any
    temp_opt: Any
    key: jax.Array
    step: jnp.ndarray


class ObservationPrefix:
    """An actor module that reads the leading ``size`` entries of each observation.

    Asymmetric observations (FlashSAC, after the asymmetric actor-critic of Pinto et
    al. 2018): the replay and the critics hold the privileged state, which begins with
    the actor's own observation. ``init`` and ``apply`` pass everything else through,
    so the parameters are exactly those of the actor on ``size`` inputs."""

    def __init__(self, net, size: int):
        self.net, self.size = net, int(size)

    def init(self, key, obs, *args, **kwargs):
        return self.net.init(key, obs[..., : self.size], *args, **kwargs)

    def apply(self, variables, obs, *args, **kwargs):
        return self.net.apply(variables, obs[..., : self.size], *args, **kwargs)


def hyperparameters(cfg: AgentConfig) -> dict[str, float]:
    """The float hyperparameters an agent reads from ``hyper`` (the agent fields declared
    ``vmapped``: learning rates and their end and scales, tau, the target entropy scale,
    TD3's exploration noise)."""
    return {f: getattr(cfg, f) for f in vmapped()}


class ActorCritic:
    """Builds networks and optimizers from a config; holds no mutable state.

    Subclasses set ``actor_net`` in ``make_actor`` and define ``policy``,
    ``actor_loss``, ``next_action`` and ``update``. The float hyperparameters are
    read from ``hyper`` (a dict, ``hyperparameters(cfg)``), never from ``cfg``:
    ``with_hyper`` gives the same agent with other values, which may be traced
    arrays, so a population's members differing only in them share one program.
    """

    has_target_actor = False
    has_temperature = False
    # How the loop's reward scaler merges the statistics of G (normalizers.MERGES)
    return_statistics = "rsnorm"

    @staticmethod
    def init_noise(cfg: AgentConfig, key: jax.Array, num_envs: int, action_dim: int):
        """The exploration-noise state of a loop's envs (``explore`` advances it)."""
        return init_noise(cfg, key, num_envs, action_dim)

    def __init__(
        self,
        cfg: AgentConfig,
        obs_dim: int,
        action_dim: int,
        *,
        discount: float,
        num_critics: int,
        total_updates: int,
        actor_obs_dim: int | None = None,
        n_step: int = 1,
    ):
        self.cfg = cfg
        self.n_step = int(n_step)  # the replay's n-step returns (FlashSAC's discount)
        self.obs_dim, self.action_dim = obs_dim, action_dim
        self.actor_obs_dim = obs_dim if actor_obs_dim is None else int(actor_obs_dim)
        self.discount = float(discount)
        self.num_critics = int(num_critics)
        self.total_updates = int(total_updates)
        self.c_shift = cfg.c_shift if cfg.input_shift else None
        self.critic_type = cfg.critic_type
        self.critic_net = self.make_critic()
        self.bins = np.linspace(cfg.v_min, cfg.v_max, cfg.num_bins, dtype=np.float32)
        self.policy_delay = int(cfg.policy_delay or 1)
        self.actor_net = self.make_actor()
        if self.actor_obs_dim < obs_dim:  # asymmetric: the actor sees the leading part
            self.actor_net = ObservationPrefix(self.actor_net, self.actor_obs_dim)
        self.hyper = hyperparameters(cfg)
        self._optimizers()

    def _optimizers(self) -> None:
        """The optimizers of ``hyper``'s learning rates, and the jitted ``update_many``.

        The actor steps once per policy_delay updates: its schedule is that long."""
        cfg, hyper = self.cfg, self.hyper

        def opt(scale, updates: int, weight_decay: float):
            lr, end = scale * hyper["learning_rate"], scale * hyper["learning_rate_end"]
            return make_optimizer(lr, end, updates, weight_decay, cfg.learning_rate_decay)

        actor_updates = -(-self.total_updates // self.policy_delay)
        self.actor_tx = opt(hyper["actor_lr_scale"], actor_updates, cfg.weight_decay)
        self.critic_tx = opt(hyper["critic_lr_scale"], self.total_updates, cfg.weight_decay)
        self.temp_tx = opt(1.0, actor_updates, 0.0)
        self.update_many = jax.jit(lambda s, b: self.learn(s, b)[:2], donate_argnums=0)

    def with_hyper(self, hyper: dict) -> ActorCritic:
        """This agent with the float hyperparameters ``hyper`` (some or all of
        ``hyperparameters``' names; values may be traced arrays, one member's under a
        population's vmap). Networks, shapes and the learner state's layout are shared."""
        unknown = set(hyper) - set(self.hyper)
        if unknown:
            raise ValueError(f"not float hyperparameters of an agent: {sorted(unknown)}")
        agent = copy.copy(self)
        agent.hyper = {**self.hyper, **hyper}
        agent._optimizers()
        return agent

    def make_actor(self):
        raise NotImplementedError

    def make_critic(self):
        """The critic ensemble: ``num_critics`` critics of the configured head."""
        cfg = self.cfg
        outputs = {"categorical": cfg.num_bins, "scalar": 1, "quantile": cfg.num_quantiles}
        num_out = outputs[self.critic_type]
        return CriticEnsemble(cfg.critic, num_out, self.num_critics, self.c_shift, cfg.matmul_dtype)

    # ---------------------------------------------------------------- init
    def init(self, key: jax.Array) -> LearnerState:
        key, k_actor, k_critic = jax.random.split(key, 3)
        obs = jnp.zeros((1, self.obs_dim), jnp.float32)
        act = jnp.zeros((1, self.action_dim), jnp.float32)
        actor = self.project(self.actor_net.init(k_actor, obs))
        critic = self.project(self.critic_net.init(k_critic, obs, act))
        copy = partial(jax.tree.map, jnp.copy)  # own buffers: the state is donated
        log_temp = ()
        if self.has_temperature:
            log_temp = jnp.asarray(np.log(self.cfg.temperature_init), jnp.float32)
        return LearnerState(
            actor=actor,
            critic=critic,
            target_critic=copy(critic),
            target_actor=copy(actor) if self.has_target_actor else (),
            log_temp=log_temp,
            actor_opt=self.actor_tx.init(actor),
            critic_opt=self.critic_tx.init(critic),
            temp_opt=self.temp_tx.init(log_temp) if self.has_temperature else (),
            key=key,
            step=jnp.zeros((), jnp.int32),
        )

    def reset(self, state: LearnerState, networks: str = "both") -> LearnerState:
        """Re-initialize the actor and/or critic (with targets and optimizer states).

        Resets against the loss of plasticity (Nikishin et al. 2022), as studied
        for SimBa/SimbaV2. New weights come from the state's own key, so a run
        with resets is reproducible. The temperature, the step counter and the
        learning-rate schedule's position are kept. ``networks``: ``both``,
        ``actor`` or ``critic``.
        """
        key, k_init = jax.random.split(state.key)
        fresh = self.init(k_init)
        out = state.replace(key=key)
        if networks in ("both", "actor"):
            out = out.replace(
                actor=fresh.actor,
                target_actor=fresh.target_actor,
                actor_opt=restart_optimizer(fresh.actor_opt, state.actor_opt),
            )
        if networks in ("both", "critic"):
            out = out.replace(
                critic=fresh.critic,
                target_critic=fresh.target_critic,
                critic_opt=restart_optimizer(fresh.critic_opt, state.critic_opt),
            )
        return out

    def project(self, params):
        return project(params) if self.cfg.weight_projection else params

    # -------------------------------------------------------------- acting
    def explore(self, actor_params, obs, key, noise, reset):
        """Training action for ``obs`` and the new exploration-noise state.

        A stochastic policy samples itself and leaves ``noise`` alone; TD3 and
        DDPG add ``agents.exploration`` noise (``reset`` marks new episodes).
        """
        return self.policy(actor_params, obs, key), noise

    def behaviour_cloning(self, q, action, data_action) -> tuple[jnp.ndarray, dict]:
        """Offline BC term: ``bc_alpha * stopgrad(mean|Q|) * mean((a_pi - a_data)^2)``
        (SimbaV2-BC; TD3+BC's normalization). Zero when ``bc_alpha`` is 0."""
        if self.cfg.bc_alpha == 0 or data_action is None:
            return jnp.zeros(()), {}
        mse = jnp.mean((action - data_action) ** 2)
        loss = self.cfg.bc_alpha * jax.lax.stop_gradient(jnp.mean(jnp.abs(q))) * mse
        return loss, {"actor/bc_loss": loss, "actor/bc_mse": mse}

    # -------------------------------------------------------------- values
    def q_values(self, critic_params, obs, action, member: int | None = None) -> jnp.ndarray:
        """Expected Q of every critic, ``(num_critics, batch)``; of one, ``(1, batch)``."""
        if member is None:
            out = self.critic_net.apply(critic_params, obs, action)
        else:
            out = self.critic_net.apply_member(critic_params, member, obs, action)
        if self.critic_type == "categorical":
            return categorical.mean(out, self.bins)
        if self.critic_type == "quantile":
            return out.mean(axis=-1)
        return out

    def td_loss(self, critic_params, *, target_params, batch, next_action, bonus):
        """The critic's TD loss given the algorithm's next action and entropy bonus."""
        online = self.critic_net.apply(critic_params, batch.obs, batch.action)
        target = self.critic_net.apply(target_params, batch.next_obs, next_action)
        gamma = self.discount if batch.horizon is None else self.discount**batch.horizon
        weight = jnp.ones_like(batch.reward) if batch.weight is None else batch.weight
        kwargs = {
            "reward": batch.reward,
            "bootstrap": gamma * (1.0 - batch.terminated),
            "bonus": bonus,
            "weight": weight,
        }
        if self.critic_type == "categorical":
            loss, td, metrics = td_losses.categorical_loss(online, target, self.bins, **kwargs)
        elif self.critic_type == "quantile":
            drop = self.cfg.quantiles_to_drop
            loss, td, metrics = td_losses.quantile_huber(online, target, drop=drop, **kwargs)
        else:
            loss, td, metrics = td_losses.scalar(online, target, **kwargs)
        return loss, {**metrics, TD_ERROR: td}

    # ------------------------------------------------------------- stepping
    def apply_grads(self, tx, grads, opt_state, params, project: bool = True):
        """One optimizer step, then the hypersphere projection."""
        updates, opt_state = tx.update(grads, opt_state, params)
        params = optax.apply_updates(params, updates)
        return (self.project(params) if project else params), opt_state

    def delayed(self, step, fn, carry):
        """``fn(carry) -> (carry, metrics)`` on every ``policy_delay``-th update.

        Returns ``(carry, metrics, ran)``; on skipped updates the carry is
        unchanged and the metrics are zeros (``ran`` = 0 weights them out).
        """
        if self.policy_delay == 1:
            carry, metrics = fn(carry)
            return carry, metrics, jnp.ones((), jnp.float32)
        _, shapes = jax.eval_shape(fn, carry)
        skip = lambda c: (c, jax.tree.map(lambda s: jnp.zeros(s.shape, s.dtype), shapes))
        ran = step % self.policy_delay == 0
        carry, metrics = jax.lax.cond(ran, fn, skip, carry)
        return carry, metrics, ran.astype(jnp.float32)

    def update(self, state: LearnerState, batch: Batch) -> tuple[LearnerState, dict]:
        raise NotImplementedError

    def gradients(self, state: LearnerState, batch: Batch, key) -> tuple[Any, Any]:
        """``(actor grads, critic grads)`` of this algorithm's losses at ``state`` on
        ``batch``, as an update would compute them (for the training-dynamics probe)."""
        raise NotImplementedError

    def learn(self, state: LearnerState, batches: Batch) -> tuple[LearnerState, dict, Any]:
        """``update`` scanned over the leading (utd) axis; metrics averaged.

        Actor/temperature metrics are averaged over the updates that ran the
        delayed step; ``actor/updates`` counts them (0: the metrics are void).
        Also returns every update's per-sample |TD error|, ``(utd, batch)``, from
        which prioritized replay sets new priorities. ``update_many`` is this,
        jitted with the state donated, without the TD errors.
        """
        state, metrics = jax.lax.scan(self.update, state, batches)
        td = metrics.pop(TD_ERROR)
        ran = metrics.pop("actor/ran")
        count = ran.sum()
        out = {}
        for k, v in metrics.items():
            if k.startswith(DELAYED_PREFIXES):
                out[k] = jnp.sum(v * ran) / jnp.maximum(count, 1.0)
            else:
                out[k] = jnp.mean(v)
        out["actor/updates"] = count
        return state, out, td
