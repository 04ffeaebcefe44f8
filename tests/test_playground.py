"""MuJoCo Playground tasks (``mjx:``) in the device loop; skipped without the package.

Run locally with ``pip install -e ".[playground]"``; CI does not install it.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from simbarl.envs.device_tasks import load_device_task, resolve_impl
from simbarl.envs.registry import resolve_task
from simbarl.envs.vector_jax import VecEnv

pytest.importorskip("mujoco_playground")


def test_cartpole_balance_resolves_with_the_jax_backend_on_cpu():
    spec = resolve_task("mjx:CartpoleBalance")
    assert (spec.suite, spec.obs_dim, spec.action_dim) == ("playground", 5, 1)
    assert spec.max_episode_steps == 1000 and spec.preset.action_repeat == 1
    if jax.default_backend() == "cpu":
        assert resolve_impl("auto") == "jax"
    with pytest.raises(ValueError, match="CartpoleBalance"):
        resolve_task("mjx:CartpoleBalanse")


def test_time_limit_and_final_observation_on_a_real_task():
    task = load_device_task("mjx:CartpoleBalance")
    venv = VecEnv(task.env, 2, episode_length=3, obs_fn=task.obs_fn)
    state, obs = venv.reset(jax.random.PRNGKey(0))
    step = jax.jit(venv.step)
    for _ in range(2):
        out = step(state, jnp.ones((2, 1)))
        state = out.state
        assert not out.truncated.any()
    last = out.obs
    out = step(state, jnp.ones((2, 1)))
    np.testing.assert_array_equal(out.truncated, [1, 1])
    assert not np.allclose(out.final_obs, out.obs)  # reset observations differ from final
    assert np.abs(np.asarray(out.final_obs) - np.asarray(last)).max() < 0.5  # one step on
