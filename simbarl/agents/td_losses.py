"""Temporal-difference losses for the three critic heads, shared by every algorithm.

Each takes the online critics' output on ``(s, a)``, the target critics' output
on ``(s', a')`` with ``a'`` chosen by the algorithm, and per-sample

* ``reward``: the (scaled, possibly n-step) reward,
* ``bootstrap``: the factor in front of the next value, ``gamma^n * (1 -
  terminated)`` (zero where the episode truly ended; a time-limit truncation
  still bootstraps),
* ``bonus``: added to every next-value atom, ``-alpha * log pi(a'|s')`` for
  SAC/TQC and ``0`` for TD3/DDPG,
* ``weight``: per-sample loss weights (prioritized replay's importance
  weights; ones otherwise).

They return ``(loss, td_error (batch,), metrics)``; ``td_error`` is the
absolute error of the expected value, which prioritized replay turns into
new priorities.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

from simbarl.agents import categorical


def scalar(online, target, *, reward, bootstrap, bonus, weight):
    """MSE to ``r + bootstrap * (min_i Q_i'(s', a') + bonus)``.

    Args:
      online: ``(critics, batch)`` Q(s, a) of every online critic.
      target: ``(critics, batch)`` target critics' Q(s', a'); the minimum over
        critics is the clipped double-Q rule (one critic: itself).
    """
    next_v = target.min(axis=0) + bonus
    y = jax.lax.stop_gradient(reward + bootstrap * next_v)  # (batch,)
    err = online - y[None]  # (critics, batch)
    loss = jnp.mean(weight * err**2, axis=-1).sum()
    td = jnp.abs(err).mean(axis=0)
    return loss, td, {"critic/loss": loss, "critic/q": jnp.mean(online)}


def categorical_loss(online, target, bins, *, reward, bootstrap, bonus, weight):
    """Cross-entropy to the C51 projection of the shifted target distribution.

    The target distribution comes, per sample, from the target critic whose
    expected value is the smallest (argmin; with one critic, that critic), as
    NOTES.md gives for SimbaV2.

    Args:
      online, target: ``(critics, batch, bins)`` logits.
      bins: ``(bins,)`` the fixed support.
    """
    probs = jax.nn.softmax(target, axis=-1)  # (critics, batch, bins)
    pick = jnp.argmin(jnp.sum(probs * bins, axis=-1), axis=0)  # (batch,)
    probs = jnp.take_along_axis(probs, pick[None, :, None], axis=0)[0]  # (batch, bins)
    support = reward[:, None] + bootstrap[:, None] * (bins[None, :] + bonus[:, None])
    y = jax.lax.stop_gradient(categorical.project(support, probs, bins))  # (batch, bins)
    log_p = jax.nn.log_softmax(online, axis=-1)  # (critics, batch, bins)
    ce = -jnp.sum(y[None] * log_p, axis=-1)  # (critics, batch)
    loss = jnp.mean(weight * ce, axis=-1).sum()
    q = jnp.sum(jnp.exp(log_p) * bins, axis=-1)  # (critics, batch)
    td = jnp.abs(q - jnp.sum(y * bins, axis=-1)[None]).mean(axis=0)
    return loss, td, {"critic/loss": loss, "critic/q": jnp.mean(q)}


def quantile_huber(online, target, *, reward, bootstrap, bonus, weight, drop: int, kappa=1.0):
    """TQC's truncated quantile regression (Kuznetsov et al. 2020, Eq. 10-12).

    All target critics' quantiles are pooled and sorted; the largest ``drop``
    per critic are discarded (``critics * drop`` in all), which is how TQC
    controls overestimation. Every online quantile ``theta_m`` (fraction
    ``tau_m = (2m + 1) / 2M``) regresses on every kept target atom with the
    quantile Huber loss ``|tau_m - 1{delta < 0}| * huber_kappa(delta)``.

    Args:
      online, target: ``(critics, batch, quantiles)``.
      drop: quantiles dropped per critic.
    """
    n, batch, m = target.shape
    atoms = jnp.sort(jnp.moveaxis(target, 0, 1).reshape(batch, n * m), axis=-1)
    atoms = atoms[:, : n * (m - drop)]  # (batch, kept)
    y = jax.lax.stop_gradient(reward[:, None] + bootstrap[:, None] * (atoms + bonus[:, None]))
    delta = y[None, :, None, :] - online[..., None]  # (critics, batch, quantiles, kept)
    abs_delta = jnp.abs(delta)
    huber = jnp.where(abs_delta <= kappa, 0.5 * delta**2, kappa * (abs_delta - 0.5 * kappa))
    tau = (jnp.arange(m, dtype=online.dtype) + 0.5) / m
    per_pair = jnp.abs(tau[:, None] - (delta < 0).astype(online.dtype)) * huber
    per_sample = per_pair.mean(axis=(-2, -1))  # (critics, batch)
    loss = jnp.mean(weight * per_sample, axis=-1).sum()
    q = online.mean(axis=-1)  # (critics, batch)
    td = jnp.abs(q - y.mean(axis=-1)[None]).mean(axis=0)
    return loss, td, {"critic/loss": loss, "critic/q": jnp.mean(q)}
