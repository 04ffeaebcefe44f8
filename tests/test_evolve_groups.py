"""Vmapped member groups: hyperparameters as data, the same updates as alone, no recompiles."""

import dataclasses

import jax
import numpy as np
import pytest

from simbarl.evolve.groups import GroupPrograms, form_groups, group_key
from simbarl.normalizers import Normalization
from simbarl.replay import Transition, add, init_replay
from simbarl.runs import run_dir as rd
from simbarl.runs.learner import build_agent
from simbarl.train.seeds import stack, unstack
from simbarl.train.step import act, learn_on
from tests.tiny_config import tiny

MEMBERS = 2
ENVS = 1  # per member


def _filled_buffer(o: int, a: int, prioritized: bool = False):
    """A 128-slot buffer holding 64 random transitions (seeded)."""
    rng = np.random.default_rng(0)
    n = 64
    data = Transition(
        obs=rng.normal(size=(n, o)).astype(np.float32),
        action=rng.uniform(-1, 1, size=(n, a)).astype(np.float32),
        reward=rng.normal(size=n).astype(np.float32),
        next_obs=rng.normal(size=(n, o)).astype(np.float32),
        terminated=np.zeros(n, np.float32),
        truncated=np.zeros(n, np.float32),
    )
    return add(init_replay(128, o, a, prioritized=prioritized), data)


def _identity_norm(o: int) -> Normalization:
    return Normalization(np.zeros(o, np.float32), np.ones(o, np.float32), np.float32(1.0))


def _agent(cfg, **hyper):
    return dataclasses.replace(cfg, agent=dataclasses.replace(cfg.agent, **hyper))


def _setup(tmp_path, algo):
    cfg, task = rd.resolve(tiny(tmp_path, env="Pendulum-v1", algo=algo, steps=600))
    cfgs = [
        cfg,
        _agent(
            cfg,
            learning_rate=3e-4,
            learning_rate_end=1e-4,
            actor_lr_scale=0.5,
            critic_lr_scale=2.0,
            tau=0.02,
            target_entropy_scale=0.8,
            exploration_noise=0.3,
        ),
    ]
    o, a = task.obs_dim, task.action_dim
    buffer, norm = _filled_buffer(o, a), _identity_norm(o)
    programs = GroupPrograms(o, a, stride=MEMBERS * ENVS)
    states = [
        build_agent(programs.shared_warmup(c), o, a).init(jax.random.PRNGKey(i))
        for i, c in enumerate(cfgs)
    ]
    return cfgs, task, buffer, norm, programs, states


def _noise(programs, cfgs, task):
    from simbarl.runs.learner import fresh_loop

    return [fresh_loop(c, task.obs_dim, task.action_dim, i).noise for i, c in enumerate(cfgs)]


@pytest.mark.parametrize("algo,vmap", [("sac", True), ("td3", True), ("td3", False)])
def test_a_group_updates_and_acts_as_each_member_would_alone(tmp_path, algo, vmap):
    """Vmapped, and in groups of one (which call the member unvmapped: a vmapped
    ``lax.cond``, TD3's policy delay, would run both branches)."""
    cfgs, task, buffer, norm, programs, states = _setup(tmp_path, algo)
    programs.vmap = vmap
    noises = _noise(programs, cfgs, task)
    obs = np.random.default_rng(1).normal(size=(MEMBERS, ENVS, task.obs_dim)).astype(np.float32)
    reset = np.zeros((MEMBERS, ENVS), np.float32)
    alone = []
    for i, c in enumerate(cfgs):
        own = programs.shared_warmup(c)
        agent = build_agent(own, task.obs_dim, task.action_dim)
        learner, _, _, _ = learn_on(
            agent,
            states[i],
            buffer,
            norm,
            utd=own.updates_per_step,
            batch_size=own.batch_size,
            replay=own.replay,
            num_envs=MEMBERS * ENVS,
        )
        alone.append(
            act(agent, learner, obs[i], norm, noises[i], reset[i], explore=True, random=False)
        )
    groups = form_groups(programs, cfgs, states)
    assert [g.slots for g in groups] == ([[0, 1]] if vmap else [[0], [1]])
    learned, acted = [], []
    for g in groups:
        n = len(g.slots)
        learners, buffer, actions, _, metrics = g.program.step(
            g.learners,
            buffer,
            obs[g.slots],
            norm,
            stack([noises[i] for i in g.slots]),
            reset[g.slots],
            (),
            g.hyper,
            np.ones(n, bool),
            learn=True,
        )
        assert set(metrics) and all(np.shape(v) == (n,) for v in metrics.values())
        learned += unstack(learners, n)
        acted += list(actions)
    for i, learner in enumerate(learned):
        ref_learner, ref_action, _ = alone[i]
        jax.tree.map(
            lambda x, y: np.testing.assert_allclose(x, y, rtol=2e-5, atol=1e-6),
            learner,
            ref_learner,
        )
        np.testing.assert_allclose(acted[i], ref_action, rtol=2e-5, atol=1e-6)
    # the two members really learned differently: their hyperparameters reached the update
    a0, a1 = (jax.tree.leaves(s.critic)[0] for s in learned)
    s0, s1 = (jax.tree.leaves(s.critic)[0] for s in states)
    assert not np.allclose(np.asarray(a0) - np.asarray(s0), np.asarray(a1) - np.asarray(s1))


def test_new_hyperparameters_do_not_recompile_and_a_diverged_member_is_left_alone(tmp_path):
    cfgs, task, buffer, norm, programs, states = _setup(tmp_path, "sac")
    noises = stack(_noise(programs, cfgs, task))
    obs = np.zeros((MEMBERS, ENVS, task.obs_dim), np.float32)
    reset = np.zeros((MEMBERS, ENVS), np.float32)
    (group,) = form_groups(programs, cfgs, states)
    step = group.program.step
    alive = np.array([True, False])
    before = jax.tree.map(np.asarray, unstack(group.learners, MEMBERS)[1])
    learners, buffer, actions, noises, _ = step(
        group.learners, buffer, obs, norm, noises, reset, (), group.hyper, alive, learn=True
    )
    after = unstack(learners, MEMBERS)[1]
    for name in ("actor", "critic", "target_critic", "critic_opt", "actor_opt", "log_temp"):
        jax.tree.map(np.testing.assert_array_equal, getattr(after, name), getattr(before, name))
    assert np.all(np.abs(np.asarray(actions[1])) <= 1.0)
    compiled = step._cache_size()
    mutated = [cfgs[0], _agent(cfgs[1], learning_rate=5e-4, learning_rate_end=5e-4, tau=0.01)]
    assert group_key(mutated[1]) == group_key(cfgs[1])
    (regrouped,) = form_groups(programs, mutated, unstack(learners, MEMBERS))
    assert regrouped.program is group.program
    step(
        regrouped.learners, buffer, obs, norm, noises, reset, (), regrouped.hyper, alive, learn=True
    )
    assert step._cache_size() == compiled


def test_members_group_by_shape_and_algorithm_not_by_float_hyperparameters(tmp_path):
    cfgs, task, _, _, programs, states = _setup(tmp_path, "sac")
    base = cfgs[0]
    more = [
        _agent(base, tau=0.03),
        dataclasses.replace(base, batch_size=16),
        dataclasses.replace(base, updates_per_step=2),
    ]
    extra = [build_agent(programs.shared_warmup(c), task.obs_dim, task.action_dim) for c in more]
    all_states = states + [a.init(jax.random.PRNGKey(9)) for a in extra]
    groups = form_groups(programs, cfgs + more, all_states)
    assert [g.slots for g in groups] == [[0, 1, 2], [3], [4]]
    np.testing.assert_allclose(groups[0].hyper["tau"], [base.agent.tau, 0.02, 0.03])
    assert groups[1].program is not groups[0].program is groups[0].program
    apart = GroupPrograms(task.obs_dim, task.action_dim, stride=MEMBERS * ENVS, vmap=False)
    alone = form_groups(apart, cfgs + more, all_states)
    assert [g.slots for g in alone] == [[0], [1], [2], [3], [4]]
    assert alone[0].program is alone[1].program  # one program, called once per member


def test_prioritized_replay_keeps_the_buffer_whole_and_nan_out_of_its_priorities(tmp_path):
    cfg, task = rd.resolve(tiny(tmp_path, env="Pendulum-v1", steps=600))
    cfg = dataclasses.replace(cfg, replay=dataclasses.replace(cfg.replay, prioritized=True))
    o, a = task.obs_dim, task.action_dim
    programs = GroupPrograms(o, a, stride=MEMBERS * ENVS)
    agent = build_agent(programs.shared_warmup(cfg), o, a)
    states = [agent.init(jax.random.PRNGKey(i)) for i in range(MEMBERS)]
    # member 1 diverged in this very update: NaN weights, still counted alive
    states[1] = states[1].replace(critic=jax.tree.map(lambda x: x * np.nan, states[1].critic))
    buffer, norm = _filled_buffer(o, a, prioritized=True), _identity_norm(o)
    shapes = jax.tree.map(np.shape, buffer)
    (group,) = form_groups(programs, [cfg, cfg], states)
    noises = stack(_noise(programs, [cfg, cfg], task))
    obs = np.zeros((MEMBERS, ENVS, o), np.float32)
    reset = np.zeros((MEMBERS, ENVS), np.float32)
    alive = np.ones(MEMBERS, bool)
    before = np.array(buffer.priorities.tree)  # a copy: the buffer is donated
    _, buffer, _, _, _ = group.program.step(
        group.learners, buffer, obs, norm, noises, reset, (), group.hyper, alive, learn=True
    )
    assert jax.tree.map(np.shape, buffer) == shapes  # pos, size, max priority stay scalars
    assert np.all(np.isfinite(np.asarray(buffer.priorities.tree)))
    assert not np.array_equal(np.asarray(buffer.priorities.tree), before)  # member 0 wrote
