"""An agent's float hyperparameters are data (``ActorCritic.with_hyper``), not its config.

A population's members that differ only in them share one program: the group
hands each member's values to the group's agent instead of building an agent
from a config holding traced values.
"""

import dataclasses

import jax
import numpy as np
import pytest

from simbarl.agents import actor_critic
from simbarl.agents.actor_critic import hyperparameters
from simbarl.config import vmapped
from simbarl.evolve.groups import form_groups
from simbarl.runs import run_dir as rd
from simbarl.runs.learner import build_agent
from simbarl.train.seeds import stack
from tests.test_evolve_groups import _filled_buffer, _identity_norm, _noise, _setup
from tests.tiny_config import tiny

NEW = {
    "learning_rate": 3e-4,
    "learning_rate_end": 1e-4,
    "actor_lr_scale": 0.5,
    "critic_lr_scale": 2.0,
    "tau": 0.02,
    "target_entropy_scale": 0.8,
    "exploration_noise": 0.3,
}


def test_the_float_hyperparameters_are_the_vmapped_fields():
    assert set(NEW) == set(vmapped())


@pytest.mark.parametrize("algo", ["sac", "td3"])
def test_with_hyper_equals_an_agent_built_with_those_values(tmp_path, algo):
    cfg, task = rd.resolve(tiny(tmp_path, env="Pendulum-v1", algo=algo, steps=600))
    o, a = task.obs_dim, task.action_dim
    other = dataclasses.replace(cfg, agent=dataclasses.replace(cfg.agent, **NEW))
    built = build_agent(other, o, a)
    given = build_agent(cfg, o, a).with_hyper(NEW)
    assert given.hyper == hyperparameters(other.agent) == built.hyper
    buffer, norm = _filled_buffer(o, a), _identity_norm(o)
    from simbarl.train.step import learn_on

    def learn(agent):
        state = agent.init(jax.random.PRNGKey(0))
        for _ in range(3):  # TD3's delayed actor steps too
            state, _, _, _ = learn_on(
                agent, state, buffer, norm, utd=2, batch_size=16, replay=cfg.replay, num_envs=1
            )
        return state

    jax.tree.map(np.testing.assert_array_equal, learn(given), learn(built))
    reference = build_agent(cfg, o, a)
    differs = jax.tree.leaves(learn(reference).critic)[0] != jax.tree.leaves(learn(built).critic)[0]
    assert np.any(differs)  # the values reached the update


def test_with_hyper_refuses_other_names(tmp_path):
    cfg, task = rd.resolve(tiny(tmp_path, env="Pendulum-v1", steps=600))
    agent = build_agent(cfg, task.obs_dim, task.action_dim)
    with pytest.raises(ValueError, match="batch_size"):
        agent.with_hyper({"batch_size": 64.0})


def test_a_group_builds_no_agent_inside_its_trace(tmp_path, monkeypatch):
    cfgs, task, buffer, norm, programs, states = _setup(tmp_path, "sac")
    (group,) = form_groups(programs, cfgs, states)
    built = []
    init = actor_critic.ActorCritic.__init__
    monkeypatch.setattr(
        actor_critic.ActorCritic,
        "__init__",
        lambda self, *a, **k: (built.append(1), init(self, *a, **k))[1],
    )
    obs = np.zeros((len(cfgs), 1, task.obs_dim), np.float32)
    reset = np.zeros((len(cfgs), 1), np.float32)
    noises = stack(_noise(programs, cfgs, task))
    alive = np.ones(len(cfgs), bool)
    group.program.step(
        group.learners, buffer, obs, norm, noises, reset, (), group.hyper, alive, learn=True
    )
    assert built == []
