"""Offline pieces: the behaviour-cloning actor term, the offline learning-rate
schedule, and normalizers fitted from a dataset."""

import dataclasses
import json

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from pendulum_controller import RANDOM_RETURN

from simbarl.agents import ALGORITHMS
from simbarl.agents.common import lr_schedule
from simbarl.config import AgentConfig, NetworkConfig
from simbarl.datasets import Episode
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
    state = jax.jit(plain.init)(jax.random.PRNGKey(0))  # eager init is slow to start
    obs = jax.random.normal(jax.random.PRNGKey(1), (8, 5))
    data_action = jax.random.uniform(jax.random.PRNGKey(2), (8, 2), minval=-1, maxval=1)
    key = jax.random.PRNGKey(3)
    kw = dict(critic_params=state.critic, obs=obs)
    if algo == "sac":
        kw.update(log_temp=state.log_temp, key=key)

    def policy_action(p):
        if algo == "sac":
            mean, log_std = plain.actor_net.apply(p, obs)
            return plain.sample(mean, log_std, key)[0]
        return plain.actor_net.apply(p, obs)

    def q_of(p):
        if algo == "sac":
            return plain.actor_q(plain.q_values(state.critic, obs, policy_action(p)))
        return plain.q_values(state.critic, obs, policy_action(p), member=0)[0]

    @jax.jit
    def everything(actor):
        loss_of = lambda agent, p, da: agent.actor_loss(p, data_action=da, **kw)
        loss, aux = loss_of(bc, actor, data_action)
        metrics = aux[1] if algo == "sac" else aux
        scale = jax.lax.stop_gradient(jnp.mean(jnp.abs(q_of(actor))))
        by_hand = lambda p: (
            loss_of(plain, p, None)[0]
            + 0.1 * scale * jnp.mean((policy_action(p) - data_action) ** 2)
        )
        return dict(
            action=policy_action(actor),
            q=q_of(actor),
            base=loss_of(plain, actor, None)[0],
            plain_with_data=loss_of(plain, actor, data_action)[0],
            loss=loss,
            bc_loss=metrics["actor/bc_loss"],
            grad=jax.grad(lambda p: loss_of(bc, p, data_action)[0])(actor),
            grad_by_hand=jax.grad(by_hand)(actor),
        )

    r = everything(state.actor)
    a, a_data, q = (np.asarray(x, np.float64) for x in (r["action"], data_action, r["q"]))
    expected = 0.1 * np.mean(np.abs(q)) * np.mean((a - a_data) ** 2)
    assert float(r["loss"]) - float(r["base"]) == pytest.approx(expected, rel=1e-4)
    assert float(r["bc_loss"]) == pytest.approx(expected, rel=1e-4)
    # With bc_alpha 0 the data actions change nothing.
    assert float(r["plain_with_data"]) == float(r["base"])
    # The |Q| scale is a constant (stop-gradient): the gradient is the hand-written one.
    for g1, g2 in zip(jax.tree.leaves(r["grad"]), jax.tree.leaves(r["grad_by_hand"]), strict=True):
        np.testing.assert_allclose(g1, g2, rtol=1e-4, atol=1e-6)


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


def test_offline_run_writes_the_online_layout(offline_run, capsys):
    from simbarl.cli import main
    from simbarl.offline.trainer import d4rl_score
    from simbarl.runs.load import load_agent
    from simbarl.runs.metrics import read_metrics

    run_dir, evals, behaviour = offline_run
    assert behaviour > -400  # a good behaviour policy
    assert [u for u, _ in evals] == [1500, 3000]
    rows = read_metrics(run_dir)
    assert any("train/actor/bc_loss" in r for r in rows)
    assert json.loads((run_dir / "offline.json").read_text())["transitions"] == 2000
    saved = load_agent(run_dir).config
    assert saved.agent.bc_alpha == 0.1 and saved.agent.learning_rate_end == 1e-4
    assert saved.agent.learning_rate_decay == 0.5
    assert saved.agent.critic.width == 64 and saved.env == "Pendulum-v1"
    assert main(["eval", str(run_dir), "--episodes", "1"]) == 0
    assert main(["offline", "--dataset", "simbarl/nothing-v0", "--no-progress"]) == 2
    assert "no dataset" in capsys.readouterr().err
    # An offline run cannot be continued: an occupied --run-dir is refused without
    # offering --resume (which `simbarl offline` does not have).
    again = ["offline", "--dataset", "simbarl/swingup-v0", "--run-dir", str(run_dir)]
    assert main([*again, "--no-progress"]) == 2
    err = capsys.readouterr().err
    assert "already holds files, and this kind of run does not resume" in err
    assert "--resume" not in err
    assert d4rl_score("HalfCheetah-v5", 12135.0) == pytest.approx(100.0)
    assert d4rl_score("hopper-medium", -20.272305) == pytest.approx(0.0)
    assert d4rl_score("Pendulum-v1", 0.0) is None


def test_offline_run_recovers_most_of_the_behaviour_return(offline_run):
    _, evals, behaviour = offline_run
    final = evals[-1][1]
    # Most of the way from random (about -1200) to the controller (about -250).
    assert final > behaviour - 0.3 * (behaviour - RANDOM_RETURN), (final, behaviour)
