"""Offline pieces: the behaviour-cloning actor term, the offline learning-rate
schedule, and normalizers fitted from a dataset."""

import dataclasses

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from simbarl.agents import ALGORITHMS
from simbarl.agents.common import lr_schedule
from simbarl.config import AgentConfig, NetworkConfig
from simbarl.offline.datasets import Episode
from simbarl.offline.fit import discounted_returns, fit_observations, fit_reward_scaler

CFG = AgentConfig(actor=NetworkConfig("simbav2", 16, 1), critic=NetworkConfig("simbav2", 32, 1))


def _agent(algo, **kw):
    cfg = dataclasses.replace(CFG, **kw)
    if algo == "td3":
        cfg = dataclasses.replace(cfg, policy_noise=0.2, policy_delay=2)
    return ALGORITHMS[algo](
        cfg, 5, 2, discount=0.99, num_critics=2 if algo == "td3" else 1, total_updates=100
    )


@pytest.mark.parametrize("algo", ["sac", "td3"])
def test_bc_term_matches_a_hand_computation(algo):
    plain, bc = _agent(algo), _agent(algo, bc_alpha=0.1)
    state = plain.init(jax.random.PRNGKey(0))
    obs = jax.random.normal(jax.random.PRNGKey(1), (8, 5))
    data_action = jax.random.uniform(jax.random.PRNGKey(2), (8, 2), minval=-1, maxval=1)
    key = jax.random.PRNGKey(3)
    kw = dict(critic_params=state.critic, obs=obs)
    if algo == "sac":
        kw.update(log_temp=state.log_temp, key=key)
        mean, log_std = plain.actor_net.apply(state.actor, obs)
        action, _ = plain.sample(mean, log_std, key)
        q = plain.actor_q(plain.q_values(state.critic, obs, action))
        base, (_, _) = plain.actor_loss(state.actor, **kw)
        loss, (_, metrics) = bc.actor_loss(state.actor, data_action=data_action, **kw)
    else:
        action = plain.actor_net.apply(state.actor, obs)
        q = plain.q_values(state.critic, obs, action, member=0)[0]
        base, _ = plain.actor_loss(state.actor, **kw)
        loss, metrics = bc.actor_loss(state.actor, data_action=data_action, **kw)
    a, a_data, q = (np.asarray(x, np.float64) for x in (action, data_action, q))
    expected = 0.1 * np.mean(np.abs(q)) * np.mean((a - a_data) ** 2)
    assert float(loss) - float(base) == pytest.approx(expected, rel=1e-4)
    assert float(metrics["actor/bc_loss"]) == pytest.approx(expected, rel=1e-4)
    # Without data actions, or with bc_alpha 0, the loss is the plain one.
    assert float(plain.actor_loss(state.actor, data_action=data_action, **kw)[0]) == float(base)
    # The |Q| scale is a constant: the BC gradient only moves the action toward the data.
    if algo == "td3":
        grad_q = jax.grad(lambda p: bc.actor_loss(p, data_action=data_action, **kw)[0])(state.actor)
        scale = jax.lax.stop_gradient(jnp.mean(jnp.abs(q)))
        by_hand = jax.grad(
            lambda p: (
                -jnp.mean(
                    plain.q_values(state.critic, obs, plain.actor_net.apply(p, obs), member=0)[0]
                )
                + 0.1 * scale * jnp.mean((plain.actor_net.apply(p, obs) - data_action) ** 2)
            )
        )(state.actor)
        for g1, g2 in zip(jax.tree.leaves(grad_q), jax.tree.leaves(by_hand), strict=True):
            np.testing.assert_allclose(g1, g2, rtol=1e-4, atol=1e-7)


def test_offline_learning_rate_decays_over_the_first_half():
    s = lr_schedule(1e-4, 1e-5, 1000, decay=0.5)
    assert float(s(0)) == pytest.approx(1e-4)
    assert float(s(250)) == pytest.approx(5.5e-5)
    assert float(s(500)) == pytest.approx(1e-5) and float(s(1000)) == pytest.approx(1e-5)
    assert float(lr_schedule(1e-4, 5e-5, 1000)(500)) == pytest.approx(7.5e-5)  # online default


def _episodes():
    rng = np.random.default_rng(0)
    out = []
    for t_len, term in ((5, True), (7, False), (3, False)):
        out.append(
            Episode(
                rng.normal(3.0, 2.0, (t_len + 1, 4)),
                rng.uniform(-1, 1, (t_len, 2)),
                rng.normal(1.0, 1.0, t_len),
                np.eye(t_len, dtype=bool)[-1] & term,
                np.eye(t_len, dtype=bool)[-1] & (not term),
            )
        )
    return out


def test_normalizers_fitted_from_a_dataset_equal_numpy_statistics():
    eps = _episodes()
    stats = fit_observations(eps)
    obs = np.concatenate([e.observations for e in eps])
    np.testing.assert_allclose(stats.mean, obs.mean(0), rtol=1e-5)
    np.testing.assert_allclose(stats.var, obs.var(0), rtol=1e-4)
    # G by hand: gamma * (1 - done) * G + r through the episodes in order.
    g, by_hand = 0.0, []
    for e in eps:
        for r, d in zip(e.rewards, e.terminations | e.truncations, strict=True):
            g = 0.9 * (1.0 - d) * g + r
            by_hand.append(g)
    np.testing.assert_allclose(discounted_returns(eps, 0.9), by_hand)
    scaler = fit_reward_scaler(eps, 0.9)
    np.testing.assert_allclose(scaler.stats.var, np.var(by_hand), rtol=1e-4)
    assert float(scaler.g_abs_max) == pytest.approx(np.max(np.abs(by_hand)))
