"""Brax's MJX environments (``brax:``) in the device loop; skipped without Brax.

Run locally with ``pip install -e ".[brax]"``; CI does not install it. Loading a task
takes about a second; compiling ant's physics takes about 20 s on a CPU, so only the
tests that need physics step it (the others trace the env without it).
"""

from __future__ import annotations

from functools import partial

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from tiny_config import tiny

from simbarl.config import TrainConfig
from simbarl.envs import brax_tasks
from simbarl.envs.device_tasks import load_device_task
from simbarl.envs.registry import SUITES, resolve_task
from simbarl.envs.vector_jax import VecEnv, VecState
from simbarl.runs import run_dir as rd
from simbarl.runs.metrics import read_metrics
from simbarl.train.run import train

pytest.importorskip("brax")


def _venv(task, n: int, episode_length: int) -> VecEnv:
    low, high = task.action_low, task.action_high
    return VecEnv(task.env, n, episode_length, 1, low, high, task.obs_fn)


def test_ant_and_humanoid_specs():
    ant = resolve_task("brax:ant")
    assert (ant.suite, ant.obs_dim, ant.action_dim, ant.max_episode_steps) == ("brax", 27, 8, 1000)
    assert ant.action_low == (-1.0,) * 8 and ant.action_high == (1.0,) * 8  # its ctrlrange
    humanoid = resolve_task("brax:humanoid")
    assert (humanoid.obs_dim, humanoid.action_dim, humanoid.max_episode_steps) == (244, 17, 1000)
    # its ctrlrange is +-0.4, which its step maps [-1, 1] onto: the agent's bounds are [-1, 1]
    ranges = load_device_task("brax:humanoid").env.sys.mj_model.actuator_ctrlrange
    np.testing.assert_allclose(ranges, np.tile([-0.4, 0.4], (17, 1)), rtol=1e-6)
    assert humanoid.action_low == (-1.0,) * 17 and humanoid.action_high == (1.0,) * 17
    assert ant.preset == SUITES["brax"]
    cfg, _ = rd.resolve(TrainConfig(env="brax:ant"))  # --num-envs and --steps left unset
    assert (cfg.action_repeat, cfg.num_envs, cfg.steps) == (1, 16, 500_000)
    assert cfg.agent.discount == 0.995 and cfg.agent.clipped_double_q  # as for Ant-v4


def test_an_unknown_brax_name_lists_the_known_ones():
    with pytest.raises(ValueError, match="brax:ant, brax:halfcheetah, brax:hopper"):
        resolve_task("brax:antt")


@pytest.mark.parametrize("name", brax_tasks.KNOWN)
def test_the_agents_extreme_actions_reach_the_simulator_as_the_ctrlrange_ends(name, monkeypatch):
    """The agent's -1 and +1, through the task's bounds and the env's own step, arrive
    at the simulator as the ends of the actuators' ctrlrange: never outside, and the
    whole range reachable. The physics is left out (``pipeline_step`` stores the
    control as Brax's MJX pipeline does, ``state.replace(ctrl=action)``), so this
    traces each env's step without compiling MJX."""
    task = load_device_task(f"brax:{name}")
    monkeypatch.setattr(task.env, "pipeline_step", lambda state, action: state.replace(ctrl=action))
    one = jax.tree.map(jnp.zeros_like, jax.eval_shape(task.env.reset, jax.random.PRNGKey(0)))
    inner = jax.tree.map(lambda x: jnp.stack([x, x]), one)
    venv = _venv(task, 2, 1000)
    state = VecState(inner, jnp.zeros((2,), jnp.int32), jax.random.PRNGKey(1))
    action = jnp.stack([jnp.ones(task.action_dim), -jnp.ones(task.action_dim)])
    ctrl = np.asarray(
        jax.jit(partial(venv.step, auto_reset=False))(state, action).state.inner.pipeline_state.ctrl
    )
    ranges = task.env.sys.mj_model.actuator_ctrlrange
    np.testing.assert_allclose(ctrl, np.stack([ranges[:, 1], ranges[:, 0]]), rtol=1e-6, atol=1e-6)


def test_termination_and_time_limit_keep_the_final_observation():
    """Env 0 is lifted to 2 m, above ant's healthy height (1 m): its first step ends
    the episode by termination. Env 1 runs into the 3-step time limit."""
    task = load_device_task("brax:ant")
    venv = _venv(task, 2, episode_length=3)
    state, obs = venv.reset(jax.random.PRNGKey(0))
    sim = state.inner.pipeline_state
    lifted = sim.replace(qpos=sim.qpos.at[0, 2].set(2.0))
    state = state.replace(inner=state.inner.replace(pipeline_state=lifted))
    step = jax.jit(venv.step)
    out = step(state, jnp.zeros((2, 8)))
    np.testing.assert_array_equal(out.terminated, [1, 0])
    np.testing.assert_array_equal(out.truncated, [0, 0])
    # ant observes qpos[2:] first: the final observation is the lifted torso's height,
    # the observation to act on the new episode's (about 0.75 m)
    assert out.final_obs[0, 0] > 1.9 and abs(out.obs[0, 0] - 0.75) < 0.2
    np.testing.assert_array_equal(out.final_obs[1], out.obs[1])  # env 1 goes on
    out = step(out.state, jnp.zeros((2, 8)))
    last = out.obs
    out = step(out.state, jnp.zeros((2, 8)))
    np.testing.assert_array_equal(out.terminated, [0, 0])
    np.testing.assert_array_equal(out.truncated, [0, 1])  # env 0 restarted two steps ago
    assert not np.allclose(out.final_obs[1], out.obs[1])  # reset observation differs
    # one step on: the positions (qpos[2:], the first 13 entries) moved little
    assert np.abs(np.asarray(out.final_obs[1, :13] - last[1, :13])).max() < 0.2


def test_a_short_device_loop_run_on_ant_trains_and_evaluates(tmp_path):
    cfg = tiny(
        tmp_path,
        env="brax:ant",
        steps=256,
        num_envs=4,
        warmup_steps=128,
        batch_size=16,
        eval_every=256,
        eval_episodes=2,
        log_every=128,
    )
    result = train(cfg)
    assert result.env_step == 256
    (step, value), *_ = result.eval_returns
    assert step == 256 and np.isfinite(value)
    rows = read_metrics(result.run_dir)
    assert any("train/episode_return" in r or "train/critic/loss" in r for r in rows)
    evals = [r for r in rows if "eval/return" in r]
    assert len(evals) == 1 and 1 <= evals[0]["eval/episode_length"] <= 1000
