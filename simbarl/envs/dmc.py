"""DeepMind Control suite tasks behind the Gymnasium 1.x ``Env`` API.

Observations are the task's observation dict flattened in key order; the
suite's own time limit (1000 physics-control steps) ends episodes as a
truncation. dm_control tasks end by termination only where the final
``discount`` is 0.
"""

from __future__ import annotations

import os

import gymnasium as gym
import numpy as np


def _suite():
    """``dm_control.suite``, imported without GLFW's complaint about a missing display
    (see ``mujoco_warnings``)."""
    from simbarl.envs.mujoco_warnings import no_display_warning

    with no_display_warning():
        from dm_control import suite
    return suite


def dmc_tasks() -> list[str]:
    return [f"{d}-{t}" for d, t in _suite().ALL_TASKS]


def observation_keys(domain: str, task: str) -> list[tuple[str, int]]:
    """The observation dict's ``(key, size)`` in the order ``DMCEnv`` concatenates them."""
    from dm_control import suite

    env = suite.load(domain, task, task_kwargs={"random": 0})
    try:
        return [(k, int(np.prod(v.shape))) for k, v in env.observation_spec().items()]
    finally:
        env.close()


class DMCEnv(gym.Env):
    metadata = {"render_modes": ["rgb_array"], "render_fps": 50}

    def __init__(self, domain: str, task: str, render_mode: str | None = None):
        self._env = _suite().load(domain, task, task_kwargs={"random": 0})
        self.render_mode = render_mode
        spec = self._env.action_spec()
        self.action_space = gym.spaces.Box(
            spec.minimum.astype(np.float32), spec.maximum.astype(np.float32), dtype=np.float32
        )
        dim = sum(int(np.prod(v.shape)) for v in self._env.observation_spec().values())
        self.observation_space = gym.spaces.Box(-np.inf, np.inf, (dim,), np.float64)
        self.max_episode_steps = int(self._env._step_limit)

    @staticmethod
    def _flat(obs) -> np.ndarray:
        return np.concatenate([np.asarray(v, np.float64).ravel() for v in obs.values()])

    def reset(self, *, seed: int | None = None, options=None):
        super().reset(seed=seed)
        if seed is not None:
            self._env.task.random.seed(seed)
        return self._flat(self._env.reset().observation), {}

    def step(self, action):
        ts = self._env.step(action)
        terminated = bool(ts.last() and ts.discount == 0.0)
        truncated = bool(ts.last() and not terminated)
        return self._flat(ts.observation), float(ts.reward or 0.0), terminated, truncated, {}

    def render(self):
        size = int(os.environ.get("SIMBARL_RENDER_SIZE", "256"))
        return self._env.physics.render(height=size, width=size, camera_id=0)

    def close(self):
        self._env.close()
