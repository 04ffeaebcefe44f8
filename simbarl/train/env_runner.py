"""The training environments of the host loop.

Episode ``k`` of env ``i`` is reset with a seed derived from ``(seed, i, k)``,
so episodes are reproducible. A checkpoint holds each env's state
(``envs/state.py``): a resumed run resets the env with its episode's seed and
writes that state over it, continuing the episode in flight to the last digit.
Steps return the true final observation of an ended episode; the observation
to act on next comes from the reset.
"""

from __future__ import annotations

import numpy as np

from simbarl.envs.registry import make_env
from simbarl.envs.state import EnvState, env_state, restore_env_state
from simbarl.replay import Transition
from simbarl.runs.env_checkpoint import flat_shapes
from simbarl.runs.loop_state import LoopState
from simbarl.train.evaluate import episode_seed


class EnvRunner:
    def __init__(self, env_id: str, action_repeat: int, num_envs: int, seed: int, bounds=None):
        self.envs = [make_env(env_id, action_repeat, bounds=bounds) for _ in range(num_envs)]
        self.seed = seed

    def _reset(self, i: int, loop: LoopState) -> np.ndarray:
        seed = episode_seed(self.seed, i, int(loop.episode_index[i]))
        return self.envs[i].reset(seed=seed)[0]

    def start(self, loop: LoopState, saved=None) -> tuple[np.ndarray, list[int]]:
        """Observations to act on at the start of a run or after a resume.

        ``saved``: the envs' state from the checkpoint, ``(arrays, info)`` of
        ``snapshot``, or None. A saved env is reset with its episode's seed and
        its state written over it: the episode continues where it was. Without
        a saved state, an env checkpointed just after its reset is reset with
        the same seed (the very observation the uninterrupted run had); any
        other env (a fresh run, or an episode cut mid-way) starts a new episode,
        and those indices are returned so the caller can count their observations.
        """
        states = self._saved_states(saved)
        n = len(self.envs)
        fresh = [i for i in range(n) if states[i] is None and not loop.at_episode_start[i]]
        for i in fresh:
            loop.episode_index[i] += 1
            loop.episode_return[i] = 0.0
        obs = np.stack([self._reset(i, loop) for i in range(n)])
        for i, state in enumerate(states):
            if state is not None:
                restore_env_state(self.envs[i], state)
                obs[i] = saved[0]["obs"][i]
        loop.at_episode_start[fresh] = True
        return obs, fresh

    def _saved_states(self, saved) -> list[EnvState | None]:
        if saved is None:
            return [None] * len(self.envs)
        arrays, info = saved
        if len(info["envs"]) != len(self.envs):
            raise ValueError(
                f"the checkpoint holds the state of {len(info['envs'])} envs, the run has "
                f"{len(self.envs)}: a different --num-envs"
            )
        states = []
        for i, env in enumerate(info["envs"]):
            prefix = f"{i}/"
            mine = {k[len(prefix) :]: v for k, v in arrays.items() if k.startswith(prefix)}
            states.append(EnvState(env["kind"], mine, env["info"]))
        return states

    def snapshot(self, obs: np.ndarray, recent_returns: list[float]):
        """The envs' state for a checkpoint as ``(arrays, info)`` (with ``obs``, the
        observations to act on, and the seat's returns not yet logged), or None
        where an env's state cannot be read: a resume then restarts its episode."""
        states = [env_state(env) for env in self.envs]
        if any(s is None for s in states):
            return None
        arrays = {"obs": np.asarray(obs)}
        for i, s in enumerate(states):
            arrays.update({f"{i}/{k}": v for k, v in s.arrays.items()})
        info = {
            "kind": "host",
            "envs": [{"kind": s.kind, "info": s.info} for s in states],
            "recent_returns": [float(r) for r in recent_returns],
            "shapes": flat_shapes(arrays),
        }
        return arrays, info

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
