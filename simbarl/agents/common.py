"""Pieces every algorithm shares: weight projection, optimizers, target EMA."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import optax

from simbarl.networks.simbav2 import l2n

HYPER_LAYER = "hyper"  # name of the Dense inside every HyperDense


def is_hyper_kernel(path) -> bool:
    """True for the kernel of a ``HyperDense`` (a Dense named ``hyper``)."""
    names = [getattr(p, "key", getattr(p, "name", None)) for p in path]
    return len(names) >= 2 and names[-1] == "kernel" and names[-2] == HYPER_LAYER


def project(params):
    """Put every HyperDense output unit's weight vector on the unit sphere.

    Kernels are ``(..., in, out)`` (a leading critic-ensemble axis is allowed),
    so each output unit is a vector along axis -2. Everything else (scalers,
    biases, LayerNorm, plain Dense layers) is left as it is.
    """
    return jax.tree_util.tree_map_with_path(
        lambda path, w: l2n(w, axis=-2) if is_hyper_kernel(path) else w, params
    )


def lr_schedule(lr: float, lr_end: float, total_updates: int, decay: float = 1.0):
    """Linear decay from ``lr`` to ``lr_end`` over the first ``decay`` fraction of
    ``total_updates``, then constant."""
    return optax.linear_schedule(lr, lr_end, max(int(total_updates * decay), 1))


def cosine_lr_schedule(lr: float, lr_end: float, total_updates: int, decay: float = 1.0):
    """FlashSAC's schedule: cosine from ``lr`` to ``lr_end`` over the first ``decay``
    fraction of ``total_updates`` (optax's ``warmup_cosine_decay_schedule`` with the
    official warm-up of ``int(1e-6 * total)`` steps from ``lr`` to ``lr``, a no-op
    kept so the step at which the cosine starts is the official one), then constant."""
    decay_steps = max(int(total_updates * decay), 1)
    warmup = min(int(1e-6 * total_updates), decay_steps - 1)
    # optax.warmup_cosine_decay_schedule, whose ``peak == 0`` test fails on a traced
    # learning rate (a population member's, ``ActorCritic.with_hyper``)
    concrete = isinstance(lr, (int, float)) and isinstance(lr_end, (int, float))
    alpha = (0.0 if lr == 0 else lr_end / lr) if concrete else lr_end / lr
    return optax.join_schedules(
        [
            optax.linear_schedule(lr, lr, warmup),
            optax.cosine_decay_schedule(lr, decay_steps - warmup, alpha=alpha),
        ],
        [warmup],
    )


def make_optimizer(
    lr: float, lr_end: float, total_updates: int, weight_decay: float = 0.0, decay: float = 1.0
):
    """Adam (AdamW when ``weight_decay`` > 0) with ``lr_schedule``."""
    schedule = lr_schedule(lr, lr_end, total_updates, decay)
    if weight_decay > 0:
        return optax.adamw(schedule, weight_decay=weight_decay)
    return optax.adam(schedule)


def ema(online, target, tau: float):
    """``target <- tau * online + (1 - tau) * target``."""
    return optax.incremental_update(online, target, tau)


def tanh_gaussian_sample(mean, log_std, key):
    """Reparameterized tanh-Gaussian sample and its log-probability.

    Returns ``(action, log_prob)`` with the change-of-variables correction
    ``log(1 - tanh(u)^2)`` computed stably as ``2 (log 2 - u - softplus(-2u))``.
    """
    return tanh_gaussian(mean, log_std, jax.random.normal(key, mean.shape))


def tanh_gaussian(mean, log_std, eps):
    """``tanh_gaussian_sample`` with the standard normal draw ``eps`` given."""
    std = jnp.exp(log_std)
    u = mean + std * eps
    log_prob = -0.5 * (((u - mean) / std) ** 2 + 2 * log_std + jnp.log(2 * jnp.pi))
    log_prob -= 2.0 * (jnp.log(2.0) - u - jax.nn.softplus(-2.0 * u))
    return jnp.tanh(u), log_prob.sum(-1)


def restart_optimizer(fresh, old):
    """``fresh`` optimizer state, but at ``old``'s place in the learning-rate schedule.

    Adam's moments and bias-correction count start over (a reset's first steps
    are ordinary Adam steps); the schedule's count does not, so the learning
    rate stays on the run's decay.
    """
    is_schedule = lambda x: isinstance(x, optax.ScaleByScheduleState)
    pick = lambda f, o: o if is_schedule(f) else f
    return jax.tree.map(pick, fresh, old, is_leaf=is_schedule)


def gaussian_sample(mean, log_std, key, squash: bool = True):
    """``(action, log_prob)``: tanh-squashed, or an unbounded Gaussian sample whose
    action is clipped to ``[-1, 1]`` (its log-probability is the Gaussian's)."""
    if squash:
        return tanh_gaussian_sample(mean, log_std, key)
    std = jnp.exp(log_std)
    u = mean + std * jax.random.normal(key, mean.shape)
    log_prob = -0.5 * (((u - mean) / std) ** 2 + 2 * log_std + jnp.log(2 * jnp.pi))
    return jnp.clip(u, -1.0, 1.0), log_prob.sum(-1)
