"""Wrappers applied to every task: action rescaling and action repeat."""

from __future__ import annotations

import gymnasium as gym
import numpy as np

from simbarl.envs.bounds import to_bounds


class ActionRepeat(gym.Wrapper):
    """Repeat each action ``repeat`` raw steps, summing rewards.

    It wraps an env whose time limit already counts raw steps ("time limit
    before action repeat"), and stops early when the episode ends.
    """

    def __init__(self, env: gym.Env, repeat: int):
        super().__init__(env)
        self.repeat = repeat

    def step(self, action):
        total, solved = 0.0, False
        for _ in range(self.repeat):
            obs, reward, terminated, truncated, info = self.env.step(action)
            total += float(reward)
            solved = solved or bool(info.get("solved", False))
            if terminated or truncated:
                break
        if "solved" in info:  # MyoSuite: solved at any of the repeated raw steps
            info = {**info, "solved": solved}
        return obs, total, terminated, truncated, info


class RescaleAction(gym.ActionWrapper):
    """The agent acts in ``[-1, 1]^A``; this maps to the env's true bounds, or to
    narrower ``low``/``high`` bounds when given (action-space control)."""

    def __init__(self, env: gym.Env, low=None, high=None):
        super().__init__(env)
        space = env.action_space
        self._low = np.asarray(space.low if low is None else low, np.float64)
        self._high = np.asarray(space.high if high is None else high, np.float64)
        self.action_space = gym.spaces.Box(-1.0, 1.0, space.shape, np.float32)

    def action(self, action):
        return to_bounds(np.asarray(action, np.float64), self._low, self._high)
