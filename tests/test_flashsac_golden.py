"""FlashSAC's learning-rate schedule, noise-repetition law and n-step targets against
golden values of the official PyTorch code (commit 87edc90).

``tests/golden/flashsac_{lr,zeta,n_step}.npz`` were written by
``benchmarks/verify/flashsac_golden.py``, which runs the official functions: the three
LambdaLR schedules of ``_init_flashsac_networks`` stepped as ``_update_networks``
steps them, the zeta CDF, 200,000 holds and a trace of the noise-hold state machine,
and a transition sequence through the official ``NpyUniformBuffer`` (n_step 3, 2 envs,
episode ends inside windows) with the categorical targets of its rows. Neither torch
nor the official code is needed here.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from simbarl.agents import categorical, td_losses
from simbarl.agents import exploration as ex
from simbarl.config import NetworkConfig, ReplayConfig, preset
from simbarl.normalizers import Normalization
from simbarl.replay import Transition, add, init_replay
from simbarl.replay.n_step import n_step_at
from simbarl.runs.learner import build_agent
from simbarl.train.step import prepare

GOLDEN = Path(__file__).parent / "golden"


def golden(name: str) -> dict[str, np.ndarray]:
    with np.load(GOLDEN / f"flashsac_{name}.npz") as data:
        return {k: data[k] for k in data.files}


def flashsac(obs_dim: int, action_dim: int, total_updates: int, **train):
    """The FlashSAC preset's learner, small networks (the optimizers are the preset's)."""
    base = preset("flashsac")
    small = dict(actor=NetworkConfig("flashsac", 8, 1), critic=NetworkConfig("flashsac", 8, 1))
    agent = dataclasses.replace(base.agent, **{"discount": 0.99, **small, **train.pop("agent", {})})
    cfg = dataclasses.replace(base, agent=agent, **train)
    return build_agent(cfg, obs_dim, action_dim, total_updates=total_updates)


# ------------------------------------------------------------ learning rates


def learning_rate_at(tx, counts: np.ndarray) -> np.ndarray:
    """The learning rate of an Adam optimizer ``tx`` at its schedule's step ``counts``:
    minus its update of a unit gradient from moments of 1, long after the start (so
    that the bias corrections are 1 and Adam's direction is 1 / (1 + eps))."""
    is_state = lambda x: isinstance(x, (optax.ScaleByScheduleState, optax.ScaleByAdamState))
    one_ = jnp.ones(())

    def at(count):
        def settle(s):
            if isinstance(s, optax.ScaleByScheduleState):
                return s._replace(count=count)
            if isinstance(s, optax.ScaleByAdamState):
                return s._replace(count=jnp.int32(2**20), mu=one_, nu=one_)
            return s

        state = jax.tree.map(settle, tx.init(jnp.zeros(())), is_leaf=is_state)
        return -tx.update(one_, state, jnp.zeros(()))[0] * (1.0 + 1e-8)

    return np.asarray(jax.vmap(at)(jnp.asarray(counts, jnp.int32)), np.float64)


@pytest.mark.parametrize("run", ["cpu", "gpu", "tiny"])
def test_learning_rates_over_a_run_equal_the_official_schedules(run):
    """At about a thousand updates of a whole run (1e6, 97,658 or 20 updates), the rate
    each optimizer uses equals the official LambdaLR's: the critic's schedule at the
    update, the actor's and temperature's at half of it (they step on even updates)."""
    g = golden("lr")
    k, total = g[f"{run}/update"], int(g[f"{run}/total"])
    agent = flashsac(3, 2, total)
    assert (agent.hyper["learning_rate"], agent.hyper["learning_rate_end"]) == pytest.approx(
        (float(g["peak"]), float(g["end"])), rel=1e-12
    )
    half = (k + 1) // 2  # the actor's steps before update k
    ours = {
        "critic": learning_rate_at(agent.critic_tx, k),
        "actor": learning_rate_at(agent.actor_tx, half),
        "temperature": learning_rate_at(agent.temp_tx, half),
    }
    for name, lr in ours.items():
        np.testing.assert_allclose(lr, g[f"{run}/{name}"], rtol=2e-6, atol=0, err_msg=name)
    if run != "tiny":  # the actor ends the run halfway down its cosine
        assert g[f"{run}/actor"][-1] == pytest.approx(2.25e-4, rel=1e-3)
        assert g[f"{run}/critic"][-1] == pytest.approx(1.5e-4, rel=1e-12)


# ------------------------------------------------------------ noise repetition


def chi_square(counts: np.ndarray, pmf: np.ndarray) -> float:
    """Pearson's statistic of ``counts`` (k = 1..len) against ``pmf`` (zero-padded to
    the longer of the two; a count where the pmf is 0 gives inf)."""
    n = max(len(counts), len(pmf))
    c = np.pad(counts, (0, n - len(counts))).astype(np.float64)
    e = np.pad(pmf, (0, n - len(pmf))) * c.sum()
    with np.errstate(divide="ignore", invalid="ignore"):
        terms = np.where(e > 0, (c - e) ** 2 / e, np.where(c > 0, np.inf, 0.0))
    return float(terms.sum())


def zeta_pmf(zeta: float, repeat_max: int) -> np.ndarray:
    w = np.arange(1, repeat_max + 1, dtype=np.float64) ** -zeta
    return w / w.sum()


# chi-square quantile at 1 - 1e-6 with 15 degrees of freedom: a right law passes
# (about 15 expected), and the nearby wrong laws below score in the hundreds (the
# closest, a truncation at 17, expects about 440: the 17s it misses)
CHI2_LIMIT = 56.5
WRONG_LAWS = [(1.9, 16), (2.1, 16), (2.0, 15), (2.0, 17)]


def test_the_zeta_law_equals_the_official_cdf():
    g = golden("zeta")
    zeta, repeat_max = float(g["zeta"]), int(g["zeta_max"])
    cdf = np.asarray(ex.zeta_cdf(zeta, repeat_max))
    np.testing.assert_allclose(cdf, g["cdf"], rtol=0, atol=2e-7)
    np.testing.assert_allclose(np.diff(cdf, prepend=0), zeta_pmf(zeta, repeat_max), atol=2e-7)


def test_holds_are_drawn_from_the_official_law():
    """The official sampler's 200,000 holds and as many of ours (fixed key) fit the
    law, fit each other, and reject the laws of a nearby exponent or truncation."""
    g = golden("zeta")
    zeta, repeat_max, draws = float(g["zeta"]), int(g["zeta_max"]), int(g["draws"])
    keys = jax.random.split(jax.random.PRNGKey(0), draws)
    holds = np.asarray(jax.vmap(lambda k: ex.zeta_hold(k, zeta, repeat_max))(keys))
    assert holds.min() >= 1 and holds.max() <= repeat_max
    ours = np.bincount(holds, minlength=repeat_max + 1)[1:]
    pmf = np.diff(g["cdf"].astype(np.float64), prepend=0)
    for name, counts in [("official", g["counts"]), ("ours", ours)]:
        assert chi_square(counts, pmf) < CHI2_LIMIT, name
        for law in WRONG_LAWS:
            assert chi_square(counts, zeta_pmf(*law)) > 3 * CHI2_LIMIT, (name, law)
    # the two samples against each other (homogeneity: each against their pooled law)
    pooled = (ours + g["counts"]) / (2 * draws)
    assert chi_square(ours, pooled) + chi_square(g["counts"], pooled) < CHI2_LIMIT


def test_the_hold_state_machine_follows_the_official_trace(monkeypatch):
    """Given the holds the official sampler drew at each call (it draws one every call,
    as ours does), the counts, holds and renewals of 400 training steps agree."""
    g = golden("zeta")
    drawn = iter(g["trace/drawn"].tolist())
    monkeypatch.setattr(ex, "zeta_hold", lambda key, zeta, repeat_max: jnp.int32(next(drawn)))
    state, key = ex.init_held_noise(2, 3), jax.random.PRNGKey(0)
    got = []
    for _ in range(len(g["trace/count"])):
        key, k = jax.random.split(key)
        before = state.eps
        _, state = ex.next_held_noise(state, k, 2.0, 16)
        got.append((int(state.count), int(state.hold), not np.array_equal(state.eps, before)))
    got = np.asarray(got)
    np.testing.assert_array_equal(got[:, 0], g["trace/count"])
    np.testing.assert_array_equal(got[:, 1], g["trace/hold"])
    np.testing.assert_array_equal(got[:, 2].astype(bool), g["trace/renewed"])
    assert next(drawn, None) is None  # one hold drawn per call, as the official code


# ------------------------------------------------------------ n-step targets


@pytest.fixture(scope="module")
def n_step_rows():
    """The official buffer's rows, and ours: the one-step transitions in a replay ring
    (2 envs interleaved, as the loops write them) extended by ``n_step_at``."""
    g = golden("n_step")
    steps, envs = g["in/reward"].shape
    buf = init_replay(64, obs_dim=g["in/obs"].shape[-1], action_dim=g["in/action"].shape[-1])
    for t in range(steps):
        buf = add(
            buf,
            Transition(
                obs=jnp.asarray(g["in/obs"][t]),
                action=jnp.asarray(g["in/action"][t]),
                reward=jnp.asarray(g["in/reward"][t]),
                next_obs=jnp.asarray(g["in/next_obs"][t]),
                terminated=jnp.asarray(g["in/terminated"][t]),
                truncated=jnp.asarray(g["in/truncated"][t]),
            ),
        )
    rows = len(g["buffer/reward"])  # the official buffer holds the full windows so far
    idx = jnp.arange(rows)
    tr, horizon = n_step_at(buf, idx, int(g["n_step"]), float(g["gamma"]), stride=envs)
    return g, tr, horizon


def test_n_step_windows_equal_the_official_buffer(n_step_rows):
    g, tr, horizon = n_step_rows
    exact = {"obs": "observation", "action": "action", "next_obs": "next_observation"}
    exact.update(terminated="terminated", truncated="truncated")
    for ours, theirs in exact.items():
        np.testing.assert_array_equal(getattr(tr, ours), g[f"buffer/{theirs}"], err_msg=ours)
    np.testing.assert_allclose(tr.reward, g["buffer/reward"], rtol=1e-6, atol=1e-7)
    # the sequence cuts windows at episode ends: some of each kind, shorter than n
    short = np.asarray(horizon) < int(g["n_step"])
    assert np.any(short & (g["buffer/truncated"] > 0))
    assert np.any(short & (g["buffer/terminated"] > 0))


def test_n_step_targets_equal_the_official_targets(n_step_rows):
    """The official target of every row bootstraps with gamma ** n_step, also where a
    truncation cut the window; FlashSAC's categorical target here matches it."""
    g, tr, horizon = n_step_rows
    gamma, n = float(g["gamma"]), int(g["n_step"])
    replay = ReplayConfig(n_step=n)
    agent = flashsac(
        tr.obs.shape[-1], tr.action.shape[-1], 10, agent={"discount": gamma}, replay=replay
    )
    dims = tr.obs.shape[-1]
    norm = Normalization(jnp.zeros(dims), jnp.ones(dims), jnp.asarray(1.0))
    batch = prepare(tr, norm, horizon)
    discount = np.asarray(agent.bootstrap_discount(batch))
    np.testing.assert_allclose(discount, gamma**n, rtol=1e-6)

    bins = jnp.asarray(agent.bins)
    probs = jnp.exp(jnp.asarray(g["target/log_probs"]))
    bonus = -jnp.asarray(g["target/entropy"])  # the official e' = alpha log pi
    bootstrap = discount * (1.0 - batch.terminated)
    support = batch.reward[:, None] + bootstrap[:, None] * (bins[None] + bonus[:, None])
    target = categorical.project(support, probs, bins)
    # float32 projections: a bin split may differ by a few ulps of the support
    np.testing.assert_allclose(target, g["target/probs"], rtol=0, atol=1e-5)

    # and through the loss FlashSAC's critic step takes: the same cross-entropy
    online = jax.random.normal(jax.random.PRNGKey(0), (1, *probs.shape))
    loss, _, _ = td_losses.categorical_loss(
        online,
        jnp.asarray(g["target/log_probs"])[None],
        bins,
        reward=batch.reward,
        bootstrap=bootstrap,
        bonus=bonus,
        weight=jnp.ones_like(batch.reward),
    )
    want = -np.mean(np.sum(g["target/probs"] * jax.nn.log_softmax(online[0]), axis=-1))
    np.testing.assert_allclose(float(loss), want, rtol=1e-5)
