"""The training environments of the host loop.

Episode ``k`` of env ``i`` is reset with a seed derived from ``(seed, i, k)``,
so episodes are reproducible and a resumed run can recreate the state of an
env that had just been reset. Steps return the true final observation of an
ended episode; the observation to act on next comes from the reset.
"""

from __future__ import annotations

import numpy as np

from simbarl.envs.registry import make_env
from simbarl.replay import Transition
from simbarl.runs.loop_state import LoopState
from simbarl.train.evaluate import episode_seed


class EnvRunner:
    def __init__(self, env_id: str, action_repeat: int, num_envs: int, seed: int, bounds=None):
        self.envs = [make_env(env_id, action_repeat, bounds=bounds) for _ in range(num_envs)]
        self.seed = seed

    def _reset(self, i: int, loop: LoopState) -> np.ndarray:
        seed = episode_seed(self.seed, i, int(loop.episode_index[i]))
        return self.envs[i].reset(seed=seed)[0]

    def start(self, loop: LoopState) -> tuple[np.ndarray, list[int]]:
        """Observations to act on at the start of a run or after a resume.

        An env checkpointed just after its reset is reset with the same seed,
        giving the very observation the uninterrupted run had. Any other env
        (a fresh run, or an episode cut mid-way) starts a new episode; those
        indices are returned so the caller can count their observations.
        """
        fresh = [i for i in range(len(self.envs)) if not loop.at_episode_start[i]]
        for i in fresh:
            loop.episode_index[i] += 1
            loop.episode_return[i] = 0.0
        obs = np.stack([self._reset(i, loop) for i in range(len(self.envs))])
        loop.at_episode_start[:] = True
        return obs, fresh

    def step(self, obs: np.ndarray, action: np.ndarray):
        """Step every env. Returns ``(transition, next_obs, reward, done)``."""
        out = [env.step(action[i]) for i, env in enumerate(self.envs)]
        next_obs = np.stack([o[0] for o in out])
        reward = np.array([o[1] for o in out])
        terminated = np.array([o[2] for o in out], np.float64)
        truncated = np.array([o[3] for o in out], np.float64)
        f32 = lambda x: np.asarray(x, np.float32)
        transition = Transition(
            f32(obs), f32(action), f32(reward), f32(next_obs), f32(terminated), f32(truncated)
        )
        return transition, next_obs, reward, np.maximum(terminated, truncated)

    def reset_ended(self, next_obs: np.ndarray, done: np.ndarray, loop: LoopState):
        """Reset ended envs. Returns ``(obs to act on, ended indices, their returns)``."""
        loop.at_episode_start[:] = False
        ended = np.flatnonzero(done)
        if not len(ended):
            return next_obs, ended, []
        obs = next_obs.copy()
        returns = [float(loop.episode_return[i]) for i in ended]
        for i in ended:
            loop.episode_return[i] = 0.0
            loop.episode_index[i] += 1
            obs[i] = self._reset(int(i), loop)
            loop.at_episode_start[i] = True
        return obs, ended, returns
