"""FlashSAC's noise repetition and return statistics, as the training loops use them."""

import dataclasses

import jax
import numpy as np
import pytest

from simbarl.agents.exploration import HeldNoise, init_held_noise, next_held_noise, zeta_hold
from simbarl.config import preset, validate
from simbarl.runs import run_dir as rd
from simbarl.runs.learner import build_agent, fresh_loop


def test_the_hold_follows_the_truncated_zeta_law():
    keys = jax.random.split(jax.random.PRNGKey(0), 20_000)
    holds = np.asarray(jax.vmap(lambda k: zeta_hold(k, 2.0, 16))(keys))
    assert holds.min() == 1 and holds.max() <= 16
    p = np.arange(1, 17, dtype=float) ** -2.0
    p /= p.sum()  # FlashSAC's P(1..3) = .631, .158, .070; mean 2.13
    np.testing.assert_allclose(p[:3], [0.631, 0.158, 0.070], atol=1e-3)
    freq = np.bincount(holds, minlength=17)[1:] / len(holds)
    np.testing.assert_allclose(freq[:3], p[:3], atol=0.01)
    assert abs(holds.mean() - (np.arange(1, 17) * p).sum()) < 0.05


def test_a_vector_is_held_for_its_hold_then_renewed_for_all_envs():
    state, key = init_held_noise(3, 2), jax.random.PRNGKey(1)
    seen, holds = [], []
    for _ in range(40):
        key, k = jax.random.split(key)
        eps, state = next_held_noise(state, k, 2.0, 4)
        seen.append(np.asarray(eps))
        holds.append(int(state.hold))
    # runs of equal vectors, each as long as the hold drawn at its start (the last may be cut)
    start = 0
    while start < len(seen):
        hold = holds[start]
        end = min(start + hold, len(seen))
        for t in range(start + 1, end):
            np.testing.assert_array_equal(seen[t], seen[start])
        if end < len(seen):
            assert not np.array_equal(seen[end], seen[start])
        start = end
    assert len({h for h in holds}) > 1 and all(1 <= h <= 4 for h in holds)
    assert not np.array_equal(seen[0][0], seen[0][1])  # one vector per env


def test_a_flashsac_loop_holds_noise_and_flashsac_return_statistics(tmp_path):
    cfg = dataclasses.replace(preset("flashsac"), env="Pendulum-v1", run_dir=str(tmp_path))
    cfg, task = rd.resolve(cfg)
    loop = fresh_loop(cfg, task.obs_dim, task.action_dim, 0)
    assert isinstance(loop.noise, HeldNoise) and loop.reward_scaler.merge == "flashsac"
    assert float(loop.reward_scaler.stats.count) == 0.0
    sac = fresh_loop(dataclasses.replace(cfg, algo="sac"), task.obs_dim, task.action_dim, 0)
    assert not isinstance(sac.noise, HeldNoise) and sac.reward_scaler.merge == "rsnorm"
    agent = build_agent(cfg, task.obs_dim, task.action_dim)
    learner = agent.init(jax.random.PRNGKey(0))
    obs = np.zeros((cfg.num_envs, task.obs_dim), np.float32)
    reset = np.zeros(cfg.num_envs, np.float32)
    a1, n1 = agent.explore(learner.actor, obs, jax.random.PRNGKey(3), loop.noise, reset)
    a2, n2 = agent.explore(learner.actor, obs, jax.random.PRNGKey(4), n1, reset)
    assert int(n1.count) == 1
    if int(n1.hold) > 1:  # the same observation and the same held vector: the same action
        np.testing.assert_array_equal(np.asarray(a1), np.asarray(a2))
    assert np.all(np.abs(np.asarray(a1)) <= 1.0)


@pytest.mark.parametrize("field, value", [("noise_repeat_max", 0), ("noise_repeat_zeta", 0.0)])
def test_bad_noise_repetition_is_refused(field, value):
    cfg = preset("flashsac")
    cfg = dataclasses.replace(cfg, agent=dataclasses.replace(cfg.agent, **{field: value}))
    with pytest.raises(ValueError, match="noise-repeat"):
        validate(cfg)
