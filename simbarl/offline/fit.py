"""Normalizers fitted by one pass over a dataset, before offline training.

The same statistics the online loop keeps, computed over the whole dataset at
once: RSNorm observation mean/variance over every observation (each episode's
first to final one), and the reward scaler's statistics of the running
discounted return ``G = gamma * (1 - done) * G + r`` run through the episodes
in order, with ``done`` = terminated or truncated (``normalizers.py``).
"""

from __future__ import annotations

import numpy as np

from simbarl.normalizers import RewardScaler, RunningStats, init_stats, update_stats


def fit_observations(episodes) -> RunningStats:
    obs = np.concatenate([ep.observations for ep in episodes]).astype(np.float64)
    return update_stats(init_stats((obs.shape[1],)), obs)


def discounted_returns(episodes, gamma: float) -> np.ndarray:
    """The running return ``G`` after every step of the episodes, in order."""
    rewards = np.concatenate([ep.rewards for ep in episodes]).astype(np.float64)
    done = np.concatenate([ep.terminations | ep.truncations for ep in episodes])
    out, g = np.empty_like(rewards), 0.0
    for t, (r, d) in enumerate(zip(rewards, done, strict=True)):
        g = gamma * (1.0 - d) * g + r
        out[t] = g
    return out


def fit_reward_scaler(episodes, gamma: float) -> RewardScaler:
    g = discounted_returns(episodes, gamma)
    return RewardScaler(
        returns=g[-1:].copy(),
        stats=update_stats(init_stats(()), g),
        g_abs_max=np.asarray(np.abs(g).max()),
    )
