"""Evaluation with the deterministic policy ``tanh(mean)`` on a separate env."""

from __future__ import annotations

import numpy as np


def episode_seed(seed: int, stream: int, index: int) -> int:
    """Reset seed of episode ``index`` of a stream (train env i, or evaluation)."""
    return int(np.random.SeedSequence([seed, stream, index]).generate_state(1)[0])


EVAL_STREAM = 1_000_003  # seed stream of evaluation episodes, apart from train envs


def evaluate(env, policy, episodes: int, seed: int, round_index: int = 0, render: bool = False):
    """Run ``episodes`` episodes; ``policy(obs (1, d)) -> action (1, A)``.

    Returns ``(returns, lengths, frames)``; ``frames`` holds the first
    episode's rendered frames when ``render``.
    """
    returns, lengths, frames = [], [], []
    for ep in range(episodes):
        obs, _ = env.reset(seed=episode_seed(seed, EVAL_STREAM + round_index, ep))
        total, n, done = 0.0, 0, False
        while not done:
            if render and ep == 0:
                frames.append(env.render())
            action = np.asarray(policy(obs[None].astype(np.float32)))[0]
            obs, reward, terminated, truncated, _ = env.step(action)
            total += reward
            n += 1
            done = terminated or truncated
        returns.append(total)
        lengths.append(n)
    return np.asarray(returns), np.asarray(lengths), frames
