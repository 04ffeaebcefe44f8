"""Running statistics as pure state: RSNorm observations and reward scaling.

The functions use only array methods and operators, so the same code runs on
numpy float64 arrays (the host loop, as NOTES.md asks: float32 statistics were
reported to break results) and on jax arrays (inside jitted device loops).
"""

from __future__ import annotations

import jax.numpy as jnp
import numpy as np
from flax import struct

INIT_COUNT = 1e-4
EPS = 1e-8


@struct.dataclass
class RunningStats:
    """Mean/variance/count of a stream, merged with Chan's parallel update."""

    mean: np.ndarray
    var: np.ndarray
    count: np.ndarray


def init_stats(shape: tuple[int, ...], dtype=np.float64, count: float = INIT_COUNT) -> RunningStats:
    return RunningStats(
        mean=np.zeros(shape, dtype),
        var=np.ones(shape, dtype),
        count=np.asarray(count, dtype),
    )


def update_stats(stats: RunningStats, batch, mask=None) -> RunningStats:
    """Merge a batch ``(n, *shape)`` into the statistics (Chan et al. 1979).

    ``mask`` (n,) of 0/1 merges only the marked rows (fixed shapes for jitted
    loops); with no row marked the statistics are unchanged.
    """
    batch = batch.astype(stats.mean.dtype)
    if mask is None:
        n = batch.shape[0]
        batch_mean = batch.mean(axis=0)
        batch_var = batch.var(axis=0)
    else:
        w = mask.astype(stats.mean.dtype).reshape(mask.shape + (1,) * (batch.ndim - 1))
        n = w.sum()
        safe = n + (n == 0)
        batch_mean = (w * batch).sum(axis=0) / safe
        batch_var = (w * (batch - batch_mean) ** 2).sum(axis=0) / safe
    total = stats.count + n
    delta = batch_mean - stats.mean
    mean = stats.mean + delta * (n / total)
    m2 = stats.var * stats.count + batch_var * n + delta**2 * (stats.count * n / total)
    return RunningStats(mean=mean, var=m2 / total, count=total)


def update_return_stats(stats: RunningStats, batch) -> RunningStats:
    """FlashSAC's merge of a batch ``(n,)`` of returns into the statistics.

    Its RunningMeanStd starts at count 0 (``init_stats(..., count=0.0)``) and adds its
    ``1e-4`` only where the old variance is weighed, ``var (count + 1e-4)``; the mean,
    the cross term and the divisor use the bare count. ``update_stats`` starts at count
    1e-4 and uses it everywhere. The two differ by O(1e-4 / count): the first merge sets
    the mean to the batch's here, to nearly it there.
    """
    batch = batch.astype(stats.mean.dtype)
    n = batch.shape[0]
    batch_mean, batch_var = batch.mean(axis=0), batch.var(axis=0)
    total = stats.count + n
    delta = batch_mean - stats.mean
    mean = stats.mean + delta * (n / total)
    m2 = (
        stats.var * (stats.count + INIT_COUNT)
        + batch_var * n
        + delta**2 * stats.count * (n / total)
    )
    return RunningStats(mean=mean, var=m2 / total, count=total)


def normalize(stats: RunningStats, x):
    """``(x - mean) / sqrt(var + 1e-8)``."""
    return (x - stats.mean) / (stats.var + EPS) ** 0.5


@struct.dataclass
class RewardScaler:
    """Per-env running discounted return ``G`` with its variance and max |G|.

    Rewards are divided by ``max(sqrt(var_G + 1e-8), G_max / g_max)`` (SimbaV2
    Eq. 13; the paper's ``(1 - gamma) G + r`` is a typo confirmed by its authors).
    """

    returns: np.ndarray  # (num_envs,) running discounted return G
    stats: RunningStats  # statistics of G over all envs and steps
    g_abs_max: np.ndarray  # max |G| seen
    # How G's statistics are merged: "rsnorm" (update_stats, SimbaV2) or "flashsac"
    # (update_return_stats); part of the scaler, so no loop needs to know the algorithm.
    merge: str = struct.field(pytree_node=False, default="rsnorm")


MERGES = {"rsnorm": update_stats, "flashsac": update_return_stats}


def init_reward_scaler(num_envs: int, dtype=np.float64, merge: str = "rsnorm") -> RewardScaler:
    """A fresh scaler; ``merge="flashsac"``: its statistics start at count 0 and are merged
    as FlashSAC's RewardNormalizer does (``update_return_stats``)."""
    if merge not in MERGES:
        raise ValueError(f"unknown return-statistics merge {merge!r}; one of {sorted(MERGES)}")
    return RewardScaler(
        returns=np.zeros((num_envs,), dtype),
        stats=init_stats((), dtype, 0.0 if merge == "flashsac" else INIT_COUNT),
        g_abs_max=np.asarray(0.0, dtype),
        merge=merge,
    )


def update_reward_scaler(s: RewardScaler, reward, done, gamma: float) -> RewardScaler:
    """``G = gamma * (1 - done) * G + r``, ``done`` = terminated or truncated; the
    statistics of G merged the scaler's way (``merge``)."""
    returns = gamma * (1.0 - done) * s.returns + reward
    g_max = abs(returns).max()
    g_abs_max = s.g_abs_max + (g_max - s.g_abs_max) * (g_max > s.g_abs_max)
    stats = MERGES[s.merge](s.stats, returns)
    return s.replace(returns=returns, stats=stats, g_abs_max=g_abs_max)


def reward_scale(s: RewardScaler, g_max: float):
    """The divisor applied to rewards: ``max(sqrt(var_G + eps), G_max / g_max)``."""
    std = (s.stats.var + EPS) ** 0.5
    bound = s.g_abs_max / g_max
    return std + (bound - std) * (bound > std)


@struct.dataclass
class Normalization:
    """Float32 views of the host's float64 statistics, passed into each call."""

    obs_mean: jnp.ndarray  # (obs_dim,)
    obs_std: jnp.ndarray  # (obs_dim,) sqrt(var + 1e-8)
    reward_scale: jnp.ndarray  # () divisor of rewards


def normalize_obs(obs, norm: Normalization):
    """Raw observations as the networks see them (RSNorm's float32 view)."""
    return (obs - norm.obs_mean) / norm.obs_std
