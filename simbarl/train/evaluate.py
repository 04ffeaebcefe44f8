"""Evaluation with the deterministic policy ``tanh(mean)`` on a separate env."""

from __future__ import annotations

from typing import NamedTuple

import numpy as np


def episode_seed(seed: int, stream: int, index: int) -> int:
    """Reset seed of episode ``index`` of a stream (train env i, or evaluation)."""
    return int(np.random.SeedSequence([seed, stream, index]).generate_state(1)[0])


EVAL_STREAM = 1_000_003  # seed stream of evaluation episodes, apart from train envs


class EvalResult(NamedTuple):
    returns: np.ndarray  # (episodes,)
    lengths: np.ndarray  # (episodes,) agent steps
    frames: list  # the first episode's rendered frames, when asked for
    successes: np.ndarray | None  # (episodes,) solved at any step; None if never reported
    normalized_score: float | None = None  # of the mean return, where the task has one

    def metrics(self) -> dict[str, float]:
        """The ``eval/*`` entries of a metrics row."""
        row = {
            "eval/return": float(self.returns.mean()),
            "eval/return_std": float(self.returns.std()),
            "eval/episode_length": float(self.lengths.mean()),
        }
        if self.successes is not None:  # MyoSuite's score: solved at any step
            row["eval/success"] = float(self.successes.mean())
        if self.normalized_score is not None:
            row["eval/normalized_score"] = float(self.normalized_score)
        return row


def evaluate(
    env,
    policy,
    episodes: int,
    seed: int,
    round_index: int = 0,
    render: bool = False,
    max_steps: int | None = None,
) -> EvalResult:
    """Run ``episodes`` episodes; ``policy(obs (1, d)) -> action (1, A)``.

    An episode counts as a success when ``info['solved']`` is true at any of
    its steps (MyoSuite); envs that never report it give ``successes=None``.
    ``max_steps`` cuts every episode after that many agent steps (a short look
    or video, where a frame is slow to render), in place of the task's limit.
    """
    returns, lengths, frames, successes = [], [], [], []
    reported = False
    for ep in range(episodes):
        obs, _ = env.reset(seed=episode_seed(seed, EVAL_STREAM + round_index, ep))
        total, n, done, solved = 0.0, 0, False, False
        while not done:
            if render and ep == 0:
                frames.append(env.render())
            action = np.asarray(policy(obs[None].astype(np.float32)))[0]
            obs, reward, terminated, truncated, info = env.step(action)
            reported = reported or "solved" in info
            solved = solved or bool(info.get("solved", False))
            total += reward
            n += 1
            done = terminated or truncated or n == max_steps
        returns.append(total)
        lengths.append(n)
        successes.append(float(solved))
    success = np.asarray(successes) if reported else None
    return EvalResult(np.asarray(returns), np.asarray(lengths), frames, success)
