"""One JAX task (``mjx:``/``brax:``/``jax:``) as a Gymnasium env, for the host-side tools.

Training on these tasks happens in the device loop; this view is for what acts
one episode at a time on the host: ``simbarl eval`` (and its ``--video``),
``simbarl collect`` and ``load_agent(...).make_env()``. Each call is a jitted
single-env ``reset``/``step``; the time limit is the task's episode length.
Its action space is the task's bounds, which ``RescaleAction`` maps [-1, 1] onto
as for any Gymnasium task. Frames come from MuJoCo's renderer on the task's model
(Playground's ``mj_model``, Brax's ``sys.mj_model``), so a video needs a headless
GL backend (``MUJOCO_GL=egl`` on a GPU machine, or ``osmesa``).
"""

from __future__ import annotations

import gymnasium as gym
import jax
import numpy as np

from simbarl.envs.device_tasks import DeviceTask


class JaxGymEnv(gym.Env):
    metadata = {"render_modes": ["rgb_array"]}

    def __init__(self, task: DeviceTask, render_mode: str | None = None, size=(240, 320)):
        self.task = task
        self.render_mode = render_mode
        self._size = size
        inf = np.full(task.obs_dim, np.inf, np.float32)
        self.observation_space = gym.spaces.Box(-inf, inf, dtype=np.float32)
        low, high = (np.asarray(b, np.float32) for b in task.bounds)
        self.action_space = gym.spaces.Box(low, high, dtype=np.float32)
        self._reset = jax.jit(task.env.reset)
        self._step = jax.jit(task.env.step)
        self._state, self._t = None, 0
        self._renderer = self._data = None

    def _obs(self) -> np.ndarray:
        return np.asarray(self.task.obs_fn(self._state), np.float32).reshape(-1)

    def reset(self, *, seed: int | None = None, options=None):
        super().reset(seed=seed)
        key = jax.random.PRNGKey(int(self.np_random.integers(2**31)))
        self._state, self._t = self._reset(key), 0
        return self._obs(), {}

    def step(self, action):
        self._state = self._step(self._state, np.asarray(action, np.float32))
        self._t += 1
        terminated = bool(self._state.done > 0)
        truncated = not terminated and self._t >= self.task.episode_length
        return self._obs(), float(self._state.reward), terminated, truncated, {}

    def render(self):
        if self.render_mode != "rgb_array":
            return None
        model = _mj_model(self.task.env)
        if model is None:
            raise ValueError(f"{self.task.env_id} has no MuJoCo model to render")
        import mujoco

        if self._renderer is None:  # one GL context for the whole episode
            height, width = self._size
            self._renderer = mujoco.Renderer(model, height=height, width=width)
            self._data = mujoco.MjData(model)
        sim, data = _simulator_state(self._state), self._data
        data.qpos, data.qvel = np.asarray(sim.qpos), np.asarray(sim.qvel)
        data.mocap_pos, data.mocap_quat = np.asarray(sim.mocap_pos), np.asarray(sim.mocap_quat)
        mujoco.mj_forward(model, data)
        self._renderer.update_scene(data, camera=-1)
        return self._renderer.render()

    def close(self):
        if self._renderer is not None:
            self._renderer.close()
            self._renderer = None


def _mj_model(env):
    """The task's MuJoCo model: Playground's ``mj_model``, Brax's ``sys.mj_model``, or None."""
    model = getattr(env, "mj_model", None)
    return model if model is not None else getattr(getattr(env, "sys", None), "mj_model", None)


def _simulator_state(state):
    """The MJX data of a task's state: Playground's ``data``, Brax's ``pipeline_state``."""
    sim = getattr(state, "data", None)
    return sim if sim is not None else state.pipeline_state
