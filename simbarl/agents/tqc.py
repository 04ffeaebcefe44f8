"""Truncated Quantile Critics (Kuznetsov et al. 2020): SAC with quantile critics.

Everything but the critic is SAC's: the same actor, temperature, update order
and target EMA. The critics are ``tqc_critics`` networks of ``num_quantiles``
quantile outputs each; the TD target pools the target critics' quantiles and
drops the largest ``quantiles_to_drop`` per critic (``td_losses.quantile_huber``),
and the actor maximizes the mean of all online quantiles of all critics.
"""

from __future__ import annotations

import jax.numpy as jnp

from simbarl.agents.sac import SAC


class TQC(SAC):
    def actor_q(self, q: jnp.ndarray) -> jnp.ndarray:
        """The mean over critics (``q`` is already each critic's quantile mean)."""
        return q.mean(axis=0)
