"""Asymmetric observations in the device loop: a task observing ``state`` and a
``privileged_state`` that begins with it (MuJoCo Playground's locomotion layout) puts
the privileged state in the replay and the critics, and the actor reads the state."""

import dataclasses

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import struct

from simbarl.config import NetworkConfig, preset
from simbarl.envs.device_tasks import load_device_task, observation_layout
from simbarl.envs.registry import resolve_task
from simbarl.envs.toy import PointMass
from simbarl.runs.learner import build_agent
from simbarl.train.device import device_fns
from simbarl.train.run import train
from tests.tiny_config import TINY_FLASHSAC_AGENT, tiny
from tests.toy_tasks import registered


@struct.dataclass
class _State:
    pos: jnp.ndarray
    obs: dict
    reward: jnp.ndarray
    done: jnp.ndarray


class PrivilegedPointMass(PointMass):
    """PointMass observing its position as ``state``; the privileged state adds the
    distance to the origin and a constant 7 (which the replay must hold)."""

    observation_size = {"state": (2,), "privileged_state": (4,)}

    def _state(self, pos, reward, done):
        extra = jnp.stack([jnp.linalg.norm(pos), jnp.asarray(7.0)])
        obs = {"state": pos, "privileged_state": jnp.concatenate([pos, extra])}
        return _State(pos, obs, reward, done)


@pytest.fixture
def task_id(monkeypatch):
    yield from registered(monkeypatch, PrivilegedPointMass)


def test_the_observation_is_the_privileged_state_only_when_asked(task_id):
    plain, asym = load_device_task(task_id), load_device_task(task_id, asymmetric=True)
    assert (plain.obs_dim, plain.actor_obs_dim) == (2, None)
    assert (asym.obs_dim, asym.actor_obs_dim) == (4, 2)
    state = asym.env.reset(jax.random.PRNGKey(0))
    np.testing.assert_array_equal(asym.obs_fn(state)[:2], plain.obs_fn(state))
    assert float(asym.obs_fn(state)[3]) == 7.0
    assert resolve_task(task_id, asymmetric=True).actor_obs_dim == 2
    assert load_device_task("jax:PointMass", asymmetric=True).actor_obs_dim is None  # no dict
    with pytest.raises(ValueError, match="cannot begin with it"):
        observation_layout("x", {"state": 3, "privileged_state": 2}, True)


@pytest.mark.parametrize("algo", ["flashsac", "sac"])
def test_the_actor_reads_the_state_and_the_critic_the_privileged_state(algo):
    base = preset("flashsac") if algo == "flashsac" else preset("simbav2-small")
    enc = "flashsac" if algo == "flashsac" else "simbav2"
    agent_cfg = dataclasses.replace(
        base.agent, actor=NetworkConfig(enc, 8, 1), critic=NetworkConfig(enc, 8, 1), discount=0.99
    )
    cfg = dataclasses.replace(base, agent=agent_cfg, action_repeat=1)
    agent = build_agent(cfg, 4, 2, total_updates=10, actor_obs_dim=2)
    learner = agent.init(jax.random.PRNGKey(0))
    kernels = lambda tree: [x.shape for p, x in jax.tree_util.tree_leaves_with_path(tree)
                            if "kernel" in jax.tree_util.keystr(p)]  # fmt: skip
    symmetric = build_agent(cfg, 2, 2, total_updates=10).init(jax.random.PRNGKey(0))
    assert kernels(learner.actor) == kernels(symmetric.actor)  # an actor on 2 inputs
    assert kernels(learner.critic) != kernels(symmetric.critic)  # critics on 4 (+2 actions)
    obs = jnp.array([[0.3, -0.2, 5.0, 7.0]])
    other = obs.at[:, 2:].set(-9.0)  # only the privileged tail differs
    act = lambda o: agent.policy(learner.actor, o)
    np.testing.assert_array_equal(np.asarray(act(obs)), np.asarray(act(other)))


def test_flashsac_trains_on_privileged_states_in_the_device_loop(task_id, tmp_path):
    agent = TINY_FLASHSAC_AGENT
    short = dict(steps=400, warmup_steps=100, eval_every=400, log_every=200)
    cfg = tiny(tmp_path, env=task_id, algo="flashsac", agent=agent, num_envs=4, **short)
    cfg = dataclasses.replace(cfg, asymmetric_observation=True)
    result = train(cfg)
    assert result.env_step == 400 and np.isfinite(result.eval_returns[-1][1])
    with np.load(tmp_path / "run" / "checkpoint.npz") as data:
        obs, stats = data["replay.obs"], data["loop['obs_stats'].mean"]
    assert obs.shape == (400, 4) and np.all(obs[:, 3] == 7.0)  # the privileged state
    assert stats.shape == (4,)
    # a loaded agent acts on the state alone (what an evaluation env or a robot gives),
    # as the loops' policy acts on the privileged state that begins with it
    from simbarl.runs.load import load_agent

    loaded = load_agent(tmp_path / "run")
    state = np.random.default_rng(0).normal(size=(5, 2)).astype(np.float32)
    privileged = np.concatenate([state, np.ones((5, 2), np.float32)], axis=1)
    np.testing.assert_array_equal(loaded.act(state), loaded.act(privileged))
    with pytest.raises(ValueError, match="takes 2 or 4"):
        loaded.act(np.zeros((5, 3), np.float32))
    # exported, the policy takes the state alone, as a robot has it
    from simbarl import load_policy
    from simbarl.cli import main
    from simbarl.export.onnx_model import INPUT, OUTPUT, missing

    out = tmp_path / "policy.npz"
    assert main(["export", str(tmp_path / "run"), "--policy", str(out)]) == 0
    exported = load_policy(out)
    assert exported.obs_dim == 2 and exported.meta["obs_dim"] == 2
    np.testing.assert_array_equal(exported.act(state), loaded.act(state, env_units=True))
    if not missing():  # the export extra: the ONNX model takes the state too
        import onnxruntime

        model = tmp_path / "policy.onnx"
        assert main(["export", str(tmp_path / "run"), "--onnx", str(model)]) == 0
        session = onnxruntime.InferenceSession(str(model), providers=["CPUExecutionProvider"])
        assert session.get_inputs()[0].shape[1] == 2
        got = session.run([OUTPUT], {INPUT: state})[0]
        np.testing.assert_allclose(got, loaded.act(state, env_units=True), rtol=0, atol=1e-5)
    device_fns.cache_clear()
    with pytest.raises(ValueError, match="device loop"):
        train(dataclasses.replace(cfg, run_dir=str(tmp_path / "host")), engine="host")
