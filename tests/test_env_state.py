"""An env's saved state, put back into a new env, continues its episode bit for bit."""

from __future__ import annotations

import numpy as np
import pytest

from simbarl.envs.registry import make_env
from simbarl.envs.state import env_state, restore_env_state


def _needs(env_id: str) -> None:
    if env_id.startswith("dmc:"):
        pytest.importorskip("dm_control", reason="dm_control is not installed")
    elif not env_id.startswith("jax:"):
        pytest.importorskip("mujoco", reason="gymnasium[mujoco] is not installed")


def _steps(env, actions):
    return [env.step(a) for a in actions]


@pytest.mark.parametrize(
    "env_id, repeat",
    [
        ("HalfCheetah-v5", 1),
        # Ant and Humanoid read body positions of the last step before the next one:
        # the integration state alone does not repeat their rewards.
        ("Ant-v5", 1),
        ("Humanoid-v5", 1),
        ("dmc:walker-walk", 2),  # contacts; dm_control's half step after restoring
        ("dmc:reacher-easy", 2),  # the target is placed in the model at reset
        ("jax:PointMass", 1),
    ],
)
def test_a_restored_env_continues_its_episode(env_id, repeat):
    _needs(env_id)
    first = make_env(env_id, repeat)
    actions = np.random.default_rng(0).uniform(-1, 1, (70, first.action_space.shape[0]))
    first.reset(seed=5)
    _steps(first, actions[:30])
    state = env_state(first)
    expected = _steps(first, actions[30:])

    second = make_env(env_id, repeat)
    second.reset(seed=5)
    _steps(second, actions[:3])  # somewhere else in the episode
    second.reset(seed=5)  # as a resume does: the episode's own seed, then its state
    restore_env_state(second, state)
    got = _steps(second, actions[30:])
    for t, (a, b) in enumerate(zip(expected, got, strict=True)):
        np.testing.assert_array_equal(a[0], b[0], err_msg=f"obs, step {t}")
        assert a[1:4] == b[1:4], t  # reward, terminated, truncated


def test_the_time_limit_counts_on_from_the_saved_step():
    _needs("InvertedPendulum-v5")
    env = make_env("InvertedPendulum-v5", 1)  # 1000-step limit, ends early when it falls
    env.reset(seed=0)
    env.step(np.zeros(1))
    state = env_state(env)
    assert state.info["elapsed_steps"] == [1]
    state.info["elapsed_steps"] = [999]
    restore_env_state(env, state)
    assert env.step(np.zeros(1))[3]  # truncated: step 1000


def test_envs_without_a_readable_state_give_none():
    assert env_state(make_env("Pendulum-v1", 1)) is None
