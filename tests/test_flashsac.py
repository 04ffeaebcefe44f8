"""FlashSAC's pieces by hand (BatchNorm, projection, target entropy, min-Q ties), its
preset, and a tiny end-to-end run on the host loop. Equality with the official code
is tests/test_flashsac_parity.py's."""

from __future__ import annotations

import dataclasses
import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import tiny_config

from simbarl.agents import ALGORITHMS, td_losses
from simbarl.agents.actor_critic import Batch
from simbarl.agents.flashsac import project
from simbarl.config import (
    NetworkConfig,
    ReplayConfig,
    num_critics,
    preset,
    resolve_algo,
    validate,
)
from simbarl.config.presets import gaussian_entropy_scale
from simbarl.networks.flashsac import BatchNorm, FlashSACCriticEnsemble
from simbarl.runs.learner import build_agent


def test_batchnorm_train_eval_and_unbiased_running_variance():
    x = jnp.asarray(np.random.default_rng(0).normal(size=(6, 3)) * 2 + 1, jnp.float32)
    bn = BatchNorm()
    v = bn.init(jax.random.PRNGKey(0), x)
    assert np.all(v["batch_stats"]["mean"] == 0) and np.all(v["batch_stats"]["var"] == 1)
    g = jnp.asarray([1.5, -0.5, 2.0])
    b = jnp.asarray([0.1, 0.2, -0.3])
    v = {"params": {"bn_scale": g, "bn_bias": b}, "batch_stats": v["batch_stats"]}
    y, new = bn.apply(v, x, train=True, mutable=["batch_stats"])
    xn = np.asarray(x, float)
    mean, var = xn.mean(0), xn.var(0)  # the batch's biased variance normalizes
    np.testing.assert_allclose(y, (xn - mean) / np.sqrt(var + 1e-5) * g + b, rtol=1e-5, atol=1e-6)
    # running statistics: momentum 0.01 toward the mean and the *unbiased* variance
    np.testing.assert_allclose(new["batch_stats"]["mean"], 0.01 * mean, rtol=1e-5)
    want_var = 0.99 + 0.01 * xn.var(0, ddof=1)
    np.testing.assert_allclose(new["batch_stats"]["var"], want_var, rtol=1e-6)
    # eval mode normalizes with the running statistics and changes nothing
    v2 = {**v, "batch_stats": new["batch_stats"]}
    y2, same = bn.apply(v2, x, mutable=["batch_stats"])
    rm, rv = np.asarray(new["batch_stats"]["mean"]), np.asarray(new["batch_stats"]["var"])
    np.testing.assert_allclose(y2, (xn - rm) / np.sqrt(rv + 1e-5) * g + b, rtol=1e-5, atol=1e-6)
    np.testing.assert_array_equal(same["batch_stats"]["var"], new["batch_stats"]["var"])


def batch_norms(tree):
    """Every BatchNorm's parameter dict in a parameter tree."""
    if isinstance(tree, dict):
        if "bn_scale" in tree:
            yield tree
        for v in tree.values():
            yield from batch_norms(v)


def test_projection_of_kernels_norms_and_free_biases():
    ens = FlashSACCriticEnsemble(8, 1, 11, num_critics=2)
    variables = ens.init(jax.random.PRNGKey(0), jnp.zeros((1, 3)), jnp.zeros((1, 2)))
    rng = np.random.default_rng(1)
    noisy = jax.tree.map(lambda x: x * 3 + jnp.asarray(rng.normal(size=x.shape)), variables)
    out = project(noisy["params"])
    for path, leaf in jax.tree_util.tree_flatten_with_path(out)[0]:
        name = jax.tree_util.keystr(path)
        d = leaf.shape[-1]
        if name.endswith("['kernel']"):  # (critics, in, out): unit rows of torch's [out, in]
            np.testing.assert_allclose(jnp.linalg.norm(leaf, axis=-2), 1.0, rtol=1e-5)
        elif name.endswith("['rms_scale']"):
            np.testing.assert_allclose(jnp.linalg.norm(leaf, axis=-1), math.sqrt(d), rtol=1e-5)
    norms = list(batch_norms(out))
    assert len(norms) == 3  # input, and the block's two
    for bn in norms:  # [gamma; beta] jointly of norm sqrt(d), per member
        both = jnp.sqrt(jnp.sum(bn["bn_scale"] ** 2 + bn["bn_bias"] ** 2, axis=-1))
        np.testing.assert_allclose(both, math.sqrt(bn["bn_scale"].shape[-1]), rtol=1e-5)
    # the head's bias is free; one member's projection does not depend on the other's
    np.testing.assert_array_equal(out["value"]["bias"], noisy["params"]["value"]["bias"])
    one = project(jax.tree.map(lambda x: x[:1], noisy["params"]))
    for a, b in zip(jax.tree.leaves(one), jax.tree.leaves(out), strict=True):
        np.testing.assert_allclose(a[0], b[0], rtol=1e-6)


def test_target_entropy_from_a_target_std():
    assert gaussian_entropy_scale(0.15) == pytest.approx(0.478181, abs=1e-6)
    cfg = resolve_algo("flashsac", preset("flashsac").agent, False)
    cfg = dataclasses.replace(
        cfg, actor=NetworkConfig("flashsac", 8, 1), critic=NetworkConfig("flashsac", 8, 1)
    )
    agent = ALGORITHMS["flashsac"](
        cfg, 3, 4, discount=0.99, num_critics=num_critics("flashsac", cfg), total_updates=10
    )
    # H = |A|/2 ln(2 pi e 0.15^2)
    assert agent.target_entropy == pytest.approx(2 * math.log(2 * math.pi * math.e * 0.0225))


def test_min_q_member_ties_go_to_member_zero():
    bins = jnp.linspace(-5.0, 5.0, 101)
    big = -1e9
    m0 = jnp.full((101,), big).at[40].set(0.0).at[60].set(0.0)  # mass at -1 and +1: Q = 0
    m1 = jnp.full((101,), big).at[50].set(0.0)  # mass at 0: Q = 0
    target = jnp.stack([m0, m1])[:, None, :]  # (critics, batch=1, bins)
    online = jnp.asarray(np.random.default_rng(0).normal(size=(2, 1, 101)), jnp.float32)
    one = jnp.ones((1,))
    kw = dict(reward=0 * one, bootstrap=one, bonus=0 * one, weight=one)
    loss, _, _ = td_losses.categorical_loss(online, target, bins, **kw)
    log_p = jax.nn.log_softmax(online, axis=-1)[:, 0]
    want = -(0.5 * (log_p[:, 40] + log_p[:, 60])).sum()
    np.testing.assert_allclose(loss, want, rtol=1e-5)
    assert abs(float(loss) + float(log_p[:, 50].sum())) > 1e-3  # member 1 would differ


def test_flashsac_preset_has_the_official_sizes():
    cfg = preset("flashsac")
    validate(cfg)
    a = cfg.agent
    assert cfg.algo == "flashsac"
    assert (a.actor.encoder, a.actor.width, a.actor.num_blocks) == ("flashsac", 128, 2)
    assert (a.critic.encoder, a.critic.width, a.critic.num_blocks) == ("flashsac", 256, 2)
    assert (a.learning_rate, a.learning_rate_end, a.tau, a.temperature_init) == (
        3e-4,
        1.5e-4,
        0.01,
        0.01,
    )
    assert (a.num_bins, a.v_min, a.v_max, a.g_max, a.policy_delay) == (101, -5.0, 5.0, 5.0, 2)
    assert not a.observation_norm and a.reward_scaling


def test_flashsac_trains_on_the_host_loop(tmp_path):
    from simbarl.runs.metrics import read_metrics
    from simbarl.train.run import train

    agent = tiny_config.TINY_FLASHSAC_AGENT
    cfg = tiny_config.tiny(
        tmp_path,
        env="Pendulum-v1",
        algo="flashsac",
        steps=400,
        batch_size=16,
        warmup_steps=100,
        eval_every=200,
        log_every=200,
        agent=agent,
    )
    validate(cfg)
    train(cfg)
    rows = read_metrics(cfg.run_dir)
    losses = [r["train/critic/loss"] for r in rows if "train/critic/loss" in r]
    returns = [r["eval/return"] for r in rows if "eval/return" in r]
    assert len(losses) == 2 and np.all(np.isfinite(losses))
    assert any("train/actor/loss" in r for r in rows)
    assert len(returns) >= 2 and np.all(np.isfinite(returns))


def test_flashsac_trains_in_the_device_loop_with_held_noise(tmp_path):
    from simbarl.runs.metrics import read_metrics
    from simbarl.train.run import train

    agent = tiny_config.TINY_FLASHSAC_AGENT
    cfg = tiny_config.tiny(
        tmp_path,
        env="jax:PointMass",
        algo="flashsac",
        steps=400,
        num_envs=4,
        batch_size=16,
        warmup_steps=100,
        eval_every=200,
        log_every=200,
        agent=agent,
    )
    result = train(cfg, engine="device")
    rows = read_metrics(result.run_dir)
    assert [r["env_step"] for r in rows if "eval/return" in r] == [200, 400]
    assert all(np.isfinite(r["train/critic/loss"]) for r in rows if "train/critic/loss" in r)
    with np.load(result.run_dir / "checkpoint.npz") as ckpt:  # the held noise is loop state
        assert int(ckpt["loop['noise'].count"]) >= 1


def _n_step_batch(horizon, terminated, truncated):
    rng = np.random.default_rng(3)
    f = lambda x: jnp.asarray(x, jnp.float32)
    return Batch(
        obs=f(rng.normal(size=(4, 3))),
        action=f(rng.uniform(-1, 1, size=(4, 2))),
        reward=f([0.5, -1.0, 2.0, 0.1]),
        next_obs=f(rng.normal(size=(4, 3))),
        terminated=f(terminated),
        horizon=f(horizon),
        truncated=None if truncated is None else f(truncated),
    )


def test_n_step_target_bootstraps_with_gamma_to_the_n_after_an_episode_end():
    """The official n-step window stops at the first done, yet its target bootstraps
    with ``gamma ** n_step`` (flash_rl update_critic): a window truncated after one of
    three steps uses gamma^3, as a full window does; SAC keeps gamma^m."""
    base = preset("flashsac")
    small = dict(actor=NetworkConfig("flashsac", 8, 1), critic=NetworkConfig("flashsac", 8, 1))
    cfg = dataclasses.replace(base, agent=dataclasses.replace(base.agent, discount=0.9, **small))
    cfg = dataclasses.replace(cfg, replay=ReplayConfig(n_step=3))
    agent = build_agent(cfg, 3, 2, total_updates=10)
    assert agent.n_step == 3
    # truncated after 1 step, full window, terminated after 1, cut by the newest data
    cut = _n_step_batch([1, 3, 1, 2], [0, 0, 1, 0], [1, 0, 0, 0])
    want = 0.9 ** np.array([3, 3, 3, 2])
    np.testing.assert_allclose(agent.bootstrap_discount(cut), want, rtol=1e-6)
    s = agent.init(jax.random.PRNGKey(0))
    loss = lambda b: agent.critic_loss(
        s.critic["params"],
        stats=s.critic["batch_stats"],
        target_critic=s.target_critic,
        actor=s.actor,
        log_temp=s.log_temp,
        batch=b,
        key=jax.random.PRNGKey(1),
    )[0]
    as_if_full = _n_step_batch([3, 3, 3, 2], [0, 0, 1, 0], None)
    as_sac = _n_step_batch([1, 3, 1, 2], [0, 0, 1, 0], None)
    np.testing.assert_allclose(loss(cut), loss(as_if_full), rtol=1e-6)
    assert abs(float(loss(cut)) - float(loss(as_sac))) > 1e-4

    sac_base = preset("simbav2-small")
    small = dict(actor=NetworkConfig("simbav2", 8, 1), critic=NetworkConfig("simbav2", 8, 1))
    sac_agent = dataclasses.replace(sac_base.agent, discount=0.9, **small)
    sac_cfg = dataclasses.replace(sac_base, agent=sac_agent, replay=ReplayConfig(n_step=3))
    sac = build_agent(sac_cfg, 3, 2, total_updates=10)
    t = sac.init(jax.random.PRNGKey(0))
    sac_loss = lambda b: sac.critic_loss(
        t.critic,
        target_params=t.target_critic,
        actor_params=t.actor,
        log_temp=t.log_temp,
        batch=b,
        key=jax.random.PRNGKey(1),
    )[0]
    np.testing.assert_allclose(sac_loss(cut), sac_loss(as_sac), rtol=1e-6)
