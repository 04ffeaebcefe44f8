"""Action-space control: bounds, log-std form, unsquashed policy, temperature options."""

from __future__ import annotations

import dataclasses

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from simbarl.agents import ALGORITHMS
from simbarl.agents.actor_critic import Batch
from simbarl.config import (
    AgentConfig,
    NetworkConfig,
    TrainConfig,
    resolve_action_bounds,
    resolve_algo,
)
from simbarl.envs.registry import make_env, resolve_task
from simbarl.runs import run_dir as rd
from simbarl.runs.load import load_agent
from simbarl.train.run import train

ENV = "dmc:cartpole-swingup"  # one action in [-1, 1]
OBS_DIM, ACT_DIM = 3, 2


@pytest.fixture(scope="module")
def task():
    return resolve_task(ENV)


def bounds_of(cfg: TrainConfig, task):
    out = resolve_action_bounds(cfg, task)
    return out.action_low, out.action_high


def test_bounds_broadcast_and_checked(task):
    assert bounds_of(TrainConfig(env=ENV), task) == (None, None)  # env's own
    assert bounds_of(TrainConfig(env=ENV, action_high=(0.5,)), task) == ((-1.0,), (0.5,))
    for low, high in [((0.2,), (0.1,)), ((-2.0,), None), (None, (1.5,))]:
        with pytest.raises(ValueError, match="action bounds"):
            bounds_of(TrainConfig(env=ENV, action_low=low, action_high=high), task)
    with pytest.raises(ValueError, match="1 or 1 values"):
        bounds_of(TrainConfig(env=ENV, action_low=(-0.5, -0.5)), task)


def test_bounds_from_recorded_actions(task, tmp_path):
    rng = np.random.default_rng(0)
    actions = np.clip(rng.normal(0.1, 0.2, size=(5000, 1)), -1, 1)
    np.save(tmp_path / "acts.npy", actions)
    np.savez(tmp_path / "acts.npz", actions=actions)
    for name in ("acts.npy", "acts.npz"):
        cfg = TrainConfig(env=ENV, action_bounds_from=str(tmp_path / name), action_percentile=2.0)
        low, high = bounds_of(cfg, task)
        np.testing.assert_allclose(low, np.percentile(actions, 2, axis=0))
        np.testing.assert_allclose(high, np.percentile(actions, 98, axis=0))
    # an explicit bound wins over the dataset's
    cfg = TrainConfig(env=ENV, action_bounds_from=str(tmp_path / "acts.npy"), action_high=(0.9,))
    assert bounds_of(cfg, task)[1] == (0.9,)
    np.save(tmp_path / "bad.npy", np.zeros((10, 3)))
    with pytest.raises(ValueError, match=r"shape \(N, 1\)"):
        bounds_of(TrainConfig(env=ENV, action_bounds_from=str(tmp_path / "bad.npy")), task)
    with pytest.raises(ValueError, match="cannot read"):
        bounds_of(TrainConfig(env=ENV, action_bounds_from=str(tmp_path / "none.npy")), task)


def test_task_bounds_are_the_configs_or_the_tasks_own():
    from simbarl.envs.bounds import task_bounds

    pendulum = resolve_task("Pendulum-v1")  # torque in [-2, 2]
    low, high = task_bounds(TrainConfig(env="Pendulum-v1"), pendulum)
    assert low.dtype == np.float32 and list(low) == [-2.0] and list(high) == [2.0]
    narrow = TrainConfig(env="Pendulum-v1", action_low=(-0.5,), action_high=(1.0,))
    assert [list(b) for b in task_bounds(narrow, pendulum)] == [[-0.5], [1.0]]
    unreported = dataclasses.replace(pendulum, action_low=(), action_high=())
    assert [list(b) for b in task_bounds(TrainConfig(), unreported)] == [[-1.0], [1.0]]


def test_rescale_maps_unit_box_to_bounds():
    env = make_env(ENV, 1, bounds=((-0.2,), (0.6,)))
    rescale = env.env  # ActionRepeat(RescaleAction(...))
    np.testing.assert_allclose(rescale.action(np.array([-1.0])), [-0.2])
    np.testing.assert_allclose(rescale.action(np.array([1.0])), [0.6])
    np.testing.assert_allclose(rescale.action(np.array([0.0])), [0.2])
    np.testing.assert_allclose(rescale.action(np.array([3.0])), [0.6])  # clipped
    env.close()


# ------------------------------------------------------------ policy options


def sac(**kw):
    cfg = AgentConfig(actor=NetworkConfig("mlp", 16, 1), critic=NetworkConfig("mlp", 16, 1), **kw)
    cfg = resolve_algo("sac", cfg, False)
    return ALGORITHMS["sac"](cfg, OBS_DIM, ACT_DIM, discount=0.99, num_critics=1, total_updates=10)


def obs_batch(n=32, seed=0):
    return jnp.asarray(np.random.default_rng(seed).normal(size=(n, OBS_DIM)), jnp.float32)


def test_state_independent_log_std():
    agent = sac(state_dependent_std=False)
    state = agent.init(jax.random.PRNGKey(0))
    assert state.actor["params"]["log_std"].shape == (ACT_DIM,)
    _, log_std = agent.actor_net.apply(state.actor, obs_batch())
    assert np.ptp(np.asarray(log_std), axis=0).max() == 0.0  # the same for every state
    _, dep = sac().actor_net.apply(sac().init(jax.random.PRNGKey(0)).actor, obs_batch())
    assert np.ptp(np.asarray(dep), axis=0).max() > 0.0


def test_unsquashed_gaussian_policy_and_penalty():
    agent = sac(squash=False, action_penalty=0.5)
    state = agent.init(jax.random.PRNGKey(0))
    # widen the policy so samples leave [-1, 1] before the clip
    state = state.replace(actor=jax.tree.map(lambda x: x * 3.0, state.actor))
    obs, key = obs_batch(), jax.random.PRNGKey(3)
    mean, log_std = agent.actor_net.apply(state.actor, obs)
    action, log_prob = agent.sample(mean, log_std, key)
    u = mean + jnp.exp(log_std) * jax.random.normal(key, mean.shape)
    np.testing.assert_allclose(action, np.clip(u, -1, 1), rtol=1e-6)
    want = -0.5 * (((u - mean) / jnp.exp(log_std)) ** 2 + 2 * log_std + np.log(2 * np.pi))
    np.testing.assert_allclose(log_prob, want.sum(-1), rtol=1e-5)
    np.testing.assert_allclose(agent.policy(state.actor, obs), np.clip(mean, -1, 1), rtol=1e-6)

    kw = dict(critic_params=state.critic, log_temp=state.log_temp, obs=obs, key=key)
    with_penalty = float(agent.actor_loss(state.actor, **kw)[0])
    plain = sac(squash=False)
    without = float(plain.actor_loss(state.actor, **kw)[0])
    np.testing.assert_allclose(with_penalty - without, 0.5 * float(jnp.mean(mean**2)), rtol=1e-4)


def test_target_entropy_and_fixed_temperature():
    assert sac().target_entropy == -1.0  # -|A| / 2
    assert sac(target_entropy=-3.5).target_entropy == -3.5
    fixed = sac(learn_temperature=False, temperature_init=0.2)
    state = fixed.init(jax.random.PRNGKey(0))
    rng = np.random.default_rng(0)
    f = lambda x: jnp.asarray(x, jnp.float32)
    batch = Batch(
        obs=f(rng.normal(size=(1, 8, OBS_DIM))),
        action=f(rng.uniform(-1, 1, size=(1, 8, ACT_DIM))),
        reward=f(rng.normal(size=(1, 8))),
        next_obs=f(rng.normal(size=(1, 8, OBS_DIM))),
        terminated=f(np.zeros((1, 8))),
    )
    new, metrics = fixed.update_many(jax.tree.map(jnp.copy, state), batch)
    assert float(new.log_temp) == float(state.log_temp)
    np.testing.assert_allclose(float(metrics["temperature/value"]), 0.2, rtol=1e-6)
    assert not np.array_equal(
        new.actor["params"]["mean"]["Dense_0"]["kernel"],
        state.actor["params"]["mean"]["Dense_0"]["kernel"],
    )


def test_training_with_narrow_bounds_records_them(tmp_path):
    cfg = TrainConfig(
        env=ENV,
        steps=200,
        warmup_steps=100,
        batch_size=8,
        updates_per_step=1,
        eval_every=200,
        eval_episodes=1,
        log_every=100,
        agent=AgentConfig(actor=NetworkConfig("mlp", 8, 1), critic=NetworkConfig("mlp", 8, 1)),
        action_low=(-0.3,),
        action_high=(0.3,),
        progress=False,
        tensorboard=False,
        run_dir=str(tmp_path / "run"),
    )
    train(cfg)
    saved = rd.load_config(tmp_path / "run")
    assert saved.action_low == (-0.3,) and saved.action_high == (0.3,)
    agent = load_agent(tmp_path / "run")
    env = agent.make_env()
    np.testing.assert_allclose(env.env.action(np.array([1.0])), [0.3])
    # the policy in env units is the env adapter's map of the policy in [-1, 1]
    obs = np.random.default_rng(0).normal(size=(16, agent.task.obs_dim))
    for deterministic in (True, False):
        agent._key = jax.random.PRNGKey(7)
        unit = agent.act(obs, deterministic)
        agent._key = jax.random.PRNGKey(7)
        scaled = agent.act(obs, deterministic, env_units=True)
        np.testing.assert_allclose(scaled, [env.env.action(a) for a in unit], rtol=1e-6)
        assert np.all(np.abs(scaled) <= 0.3 + 1e-7)
    env.close()
    # resuming with the same bounds is allowed (tuples survive the JSON round trip)
    rd.check_resumable(tmp_path / "run", dataclasses.replace(saved, steps=400))
