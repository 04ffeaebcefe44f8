"""Categorical (C51) value distributions (Bellemare et al. 2017)."""

from __future__ import annotations

import jax
import jax.numpy as jnp


def project(support: jnp.ndarray, probs: jnp.ndarray, bins: jnp.ndarray) -> jnp.ndarray:
    """Project a distribution on ``support`` onto the fixed, evenly spaced ``bins``.

    The C51 projection: atoms are clipped to ``[bins[0], bins[-1]]`` and each
    atom's mass is split between its lower and upper neighbouring bins in
    proportion to closeness. An atom exactly on a bin (``l == u``) keeps all
    its mass there (its upper share is zero), so mass is always conserved.

    Args:
      support: ``(batch, atoms)`` atom locations of the target distribution.
      probs: ``(batch, atoms)`` their probabilities.
      bins: ``(num_bins,)`` evenly spaced bin values.
    Returns:
      ``(batch, num_bins)`` projected probabilities.
    """
    num_bins = bins.shape[0]
    delta = (bins[-1] - bins[0]) / (num_bins - 1)
    b = (jnp.clip(support, bins[0], bins[-1]) - bins[0]) / delta  # fractional bin index
    lower = jnp.clip(jnp.floor(b), 0, num_bins - 1)
    upper_share = b - lower  # in [0, 1); 0 when the atom sits on a bin
    lower = lower.astype(jnp.int32)
    upper = jnp.minimum(lower + 1, num_bins - 1)
    rows = jnp.arange(support.shape[0])[:, None]
    out = jnp.zeros(support.shape[:1] + (num_bins,), probs.dtype)
    out = out.at[rows, lower].add(probs * (1.0 - upper_share))
    return out.at[rows, upper].add(probs * upper_share)  # (batch, num_bins)


def mean(logits: jnp.ndarray, bins: jnp.ndarray) -> jnp.ndarray:
    """Expected value of a categorical distribution given its logits."""
    return jnp.sum(jax.nn.softmax(logits, axis=-1) * bins, axis=-1)
