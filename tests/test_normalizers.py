"""RSNorm running statistics and SimbaV2 reward scaling, against numpy references."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from simbarl.normalizers import (
    EPS,
    INIT_COUNT,
    RewardScaler,
    RunningStats,
    init_reward_scaler,
    init_stats,
    normalize,
    reward_scale,
    update_reward_scaler,
    update_stats,
)

BATCH_SIZES = [1, 5, 17, 3, 100, 2, 1, 40]


def stream(seed: int, dim: int = 4, sizes=BATCH_SIZES) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    loc = rng.normal(scale=3.0, size=dim)
    scale = rng.uniform(0.1, 5.0, size=dim)
    return [loc + scale * rng.normal(size=(n, dim)) for n in sizes]


def expected_stats(data: np.ndarray) -> tuple[np.ndarray, np.ndarray, float]:
    """Exact mean/var after merging a prior pseudo-sample (count 1e-4, mean 0,
    var 1) with ``data``: the order of Chan merges does not change the result."""
    n = data.shape[0]
    total = INIT_COUNT + n
    m = data.mean(0)
    mean = n * m / total
    m2 = INIT_COUNT * 1.0 + n * data.var(0) + m**2 * INIT_COUNT * n / total
    return mean, m2 / total, total


def test_init_stats_prior():
    s = init_stats((3,))
    assert s.mean.dtype == np.float64 and s.var.dtype == np.float64
    np.testing.assert_array_equal(s.mean, 0.0)
    np.testing.assert_array_equal(s.var, 1.0)
    assert float(s.count) == pytest.approx(1e-4)


@pytest.mark.parametrize("seed", [0, 1])
def test_running_stats_match_concatenated_stream(seed):
    batches = stream(seed)
    stats = init_stats((4,))
    for b in batches:
        stats = update_stats(stats, b)
    data = np.concatenate(batches)
    mean, var, count = expected_stats(data)
    assert stats.mean.dtype == np.float64
    assert float(stats.count) == pytest.approx(count, rel=1e-12)
    np.testing.assert_allclose(stats.mean, mean, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(stats.var, var, rtol=1e-10)
    # and, the prior being negligible, the plain numpy moments
    np.testing.assert_allclose(stats.mean, data.mean(0), rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(stats.var, data.var(0), rtol=1e-4)


def test_running_stats_float32_input_promoted():
    stats = init_stats((4,))
    batches = stream(2)
    for b in batches:
        stats = update_stats(stats, b.astype(np.float32))
    assert stats.mean.dtype == np.float64
    mean, var, _ = expected_stats(np.concatenate(batches).astype(np.float32).astype(np.float64))
    np.testing.assert_allclose(stats.mean, mean, rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(stats.var, var, rtol=1e-9)


def test_normalize_formula():
    rng = np.random.default_rng(3)
    # includes a zero variance: the 1e-8 keeps the result finite
    stats = RunningStats(
        mean=rng.normal(size=4), var=np.array([0.0, 1e-9, 1.0, 3.7]), count=np.asarray(10.0)
    )
    x = rng.normal(size=(6, 4))
    got = normalize(stats, x)
    np.testing.assert_allclose(got, (x - stats.mean) / np.sqrt(stats.var + 1e-8), rtol=1e-12)
    assert np.all(np.isfinite(got))
    # normalized data of the stream itself has about zero mean and unit variance
    batches = stream(4)
    fitted = init_stats((4,))
    for b in batches:
        fitted = update_stats(fitted, b)
    z = normalize(fitted, np.concatenate(batches))
    np.testing.assert_allclose(z.mean(0), 0.0, atol=1e-3)
    np.testing.assert_allclose(z.var(0), 1.0, rtol=1e-3)


# ------------------------------------------------------------ reward scaling


def reference_reward_scale(rewards, dones, gamma: float, g_max: float):
    """Plain numpy SimbaV2 reward scaling over a ``(T, envs)`` stream."""
    returns = np.zeros(rewards.shape[1])
    history = []
    for r, d in zip(rewards, dones, strict=True):
        returns = gamma * (1.0 - d) * returns + r
        history.append(returns.copy())
    g = np.concatenate(history)
    n = g.size
    total = INIT_COUNT + n
    m2 = INIT_COUNT * 1.0 + n * g.var() + g.mean() ** 2 * INIT_COUNT * n / total
    var = m2 / total
    g_abs_max = np.abs(g).max()
    return returns, var, g_abs_max, max(np.sqrt(var + 1e-8), g_abs_max / g_max)


def reward_stream(kind: str, steps: int = 300, envs: int = 3, seed: int = 0):
    rng = np.random.default_rng(seed)
    dones = (rng.uniform(size=(steps, envs)) < 0.02).astype(np.float64)
    if kind == "dense":
        rewards = rng.normal(loc=0.5, size=(steps, envs))
    else:  # sparse and large: the G_max / g_max branch is active
        rewards = np.where(rng.uniform(size=(steps, envs)) < 0.01, 50.0, 0.0)
        rewards[0, 0] = 200.0
    return rewards, dones


@pytest.mark.parametrize("kind,branch", [("dense", "std"), ("sparse", "gmax")])
def test_reward_scaler_matches_numpy(kind, branch):
    gamma, g_max = 0.99, 5.0
    rewards, dones = reward_stream(kind)
    s = init_reward_scaler(3)
    for r, d in zip(rewards, dones, strict=True):
        s = update_reward_scaler(s, r, d, gamma)
    returns, var, g_abs_max, scale = reference_reward_scale(rewards, dones, gamma, g_max)
    np.testing.assert_allclose(s.returns, returns, rtol=1e-12)
    np.testing.assert_allclose(s.stats.var, var, rtol=1e-9)
    np.testing.assert_allclose(s.g_abs_max, g_abs_max, rtol=1e-12)
    assert reward_scale(s, g_max) == pytest.approx(scale, rel=1e-9)
    # the case exercises the intended branch of the max
    std_wins = np.sqrt(var + 1e-8) > g_abs_max / g_max
    assert std_wins == (branch == "std")


def test_reward_scaler_done_resets_return():
    s = init_reward_scaler(2)
    s = update_reward_scaler(s, np.array([1.0, 1.0]), np.array([0.0, 0.0]), 0.5)
    s = update_reward_scaler(s, np.array([1.0, 1.0]), np.array([0.0, 0.0]), 0.5)
    np.testing.assert_allclose(s.returns, [1.5, 1.5])
    # env 1 ends (terminated or truncated): its return restarts from the reward
    s = update_reward_scaler(s, np.array([2.0, 2.0]), np.array([0.0, 1.0]), 0.5)
    np.testing.assert_allclose(s.returns, [2.75, 2.0])
    assert float(s.g_abs_max) == pytest.approx(2.75)
    # negative returns count through |G|
    s = update_reward_scaler(s, np.array([-10.0, 0.0]), np.array([1.0, 0.0]), 0.5)
    assert float(s.g_abs_max) == pytest.approx(10.0)


def test_reward_scale_at_init_is_one():
    s = init_reward_scaler(3)
    assert reward_scale(s, 5.0) == pytest.approx(np.sqrt(1.0 + EPS))


# ------------------------------------------------------------ jax arrays


def _jnp_stats(shape) -> RunningStats:
    return RunningStats(
        mean=jnp.zeros(shape, jnp.float32),
        var=jnp.ones(shape, jnp.float32),
        count=jnp.asarray(INIT_COUNT, jnp.float32),
    )


def test_running_stats_on_jax_arrays():
    batches = stream(5, sizes=[8, 8, 32, 8, 32])  # few shapes: few compiles
    ref = init_stats((4,))
    eager, jitted = _jnp_stats((4,)), _jnp_stats((4,))
    update = jax.jit(update_stats)
    for b in batches:
        ref = update_stats(ref, b)
        eager = update_stats(eager, jnp.asarray(b, jnp.float32))
        jitted = update(jitted, jnp.asarray(b, jnp.float32))
    for s in (eager, jitted):
        assert isinstance(s.mean, jax.Array) and s.mean.dtype == jnp.float32
        np.testing.assert_allclose(s.mean, ref.mean, rtol=1e-4, atol=1e-4)
        np.testing.assert_allclose(s.var, ref.var, rtol=1e-4)
        np.testing.assert_allclose(float(s.count), float(ref.count), rtol=1e-6)
    x = np.random.default_rng(6).normal(size=(5, 4))
    np.testing.assert_allclose(
        normalize(jitted, jnp.asarray(x, jnp.float32)), normalize(ref, x), rtol=1e-3, atol=1e-3
    )


def test_reward_scaler_on_jax_arrays():
    gamma, g_max = 0.99, 5.0
    rewards, dones = reward_stream("dense", steps=60)
    ref = init_reward_scaler(3)
    s = RewardScaler(
        returns=jnp.zeros(3, jnp.float32),
        stats=_jnp_stats(()),
        g_abs_max=jnp.asarray(0.0, jnp.float32),
    )
    update = jax.jit(update_reward_scaler, static_argnums=3)
    for r, d in zip(rewards, dones, strict=True):
        ref = update_reward_scaler(ref, r, d, gamma)
        s = update(s, jnp.asarray(r, jnp.float32), jnp.asarray(d, jnp.float32), gamma)
    assert s.returns.dtype == jnp.float32
    np.testing.assert_allclose(s.returns, ref.returns, rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(float(s.stats.var), float(ref.stats.var), rtol=1e-4)
    np.testing.assert_allclose(float(s.g_abs_max), float(ref.g_abs_max), rtol=1e-5)
    assert reward_scale(s, g_max) == pytest.approx(reward_scale(ref, g_max), rel=1e-4)


def test_masked_update_merges_only_the_marked_rows():
    rng = np.random.default_rng(0)
    stats = update_stats(init_stats((3,)), rng.normal(size=(50, 3)))
    batch = rng.normal(size=(6, 3))
    mask = np.array([1, 0, 1, 1, 0, 0], np.float32)
    masked = update_stats(stats, batch, mask)
    subset = update_stats(stats, batch[mask > 0])
    np.testing.assert_allclose(masked.mean, subset.mean, rtol=1e-12)
    np.testing.assert_allclose(masked.var, subset.var, rtol=1e-12)
    assert masked.count == subset.count
    none = update_stats(stats, batch, np.zeros(6))
    np.testing.assert_array_equal(none.mean, stats.mean)
    np.testing.assert_allclose(none.var, stats.var, rtol=1e-15)
    assert none.count == stats.count
