"""The uniform ring buffer: wrap-around, sampling only filled entries, dtypes."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from simbarl.replay.buffer import Transition, add, init_replay, sample

OBS_DIM, ACT_DIM = 3, 2


def transitions(rewards) -> Transition:
    """Transitions whose every field encodes the reward, so rows can be told apart."""
    r = np.asarray(rewards, np.float64)
    return Transition(
        obs=np.repeat(r[:, None], OBS_DIM, 1),
        action=np.repeat(-r[:, None], ACT_DIM, 1),
        reward=r,
        next_obs=np.repeat(r[:, None] + 0.5, OBS_DIM, 1),
        terminated=(r % 2 == 0).astype(np.float64),
        truncated=(r % 3 == 0).astype(np.float64),
    )


def check_rows_consistent(tr: Transition) -> None:
    r = np.asarray(tr.reward)
    np.testing.assert_array_equal(np.asarray(tr.obs), np.repeat(r[..., None], OBS_DIM, -1))
    np.testing.assert_array_equal(np.asarray(tr.action), np.repeat(-r[..., None], ACT_DIM, -1))
    np.testing.assert_array_equal(
        np.asarray(tr.next_obs), np.repeat(r[..., None] + 0.5, OBS_DIM, -1)
    )
    np.testing.assert_array_equal(np.asarray(tr.terminated), (r % 2 == 0).astype(np.float32))
    np.testing.assert_array_equal(np.asarray(tr.truncated), (r % 3 == 0).astype(np.float32))


def test_init_shapes_and_dtypes():
    buf = init_replay(5, OBS_DIM, ACT_DIM)
    assert buf.capacity == 5
    assert int(buf.pos) == 0 and int(buf.size) == 0
    assert buf.data.obs.shape == (5, OBS_DIM) and buf.data.next_obs.shape == (5, OBS_DIM)
    assert buf.data.action.shape == (5, ACT_DIM)
    for leaf in (buf.data.reward, buf.data.terminated, buf.data.truncated):
        assert leaf.shape == (5,)
    for leaf in jax.tree.leaves(buf.data):
        assert leaf.dtype == jnp.float32


def test_add_wraps_around_and_overwrites_oldest():
    add3 = jax.jit(add)  # always three transitions: one compile
    buf = init_replay(5, OBS_DIM, ACT_DIM)
    buf = add3(buf, transitions([1, 2, 3]))
    assert (int(buf.pos), int(buf.size)) == (3, 3)
    np.testing.assert_array_equal(buf.data.reward, [1, 2, 3, 0, 0])

    buf = add3(buf, transitions([4, 5, 6]))  # 6 wraps to slot 0, overwriting 1
    assert (int(buf.pos), int(buf.size)) == (1, 5)
    np.testing.assert_array_equal(buf.data.reward, [6, 2, 3, 4, 5])
    check_rows_consistent(buf.data)

    buf = add3(buf, transitions([7, 8, 9]))  # the three oldest (2, 3, 4) go
    assert (int(buf.pos), int(buf.size)) == (4, 5)
    np.testing.assert_array_equal(buf.data.reward, [6, 7, 8, 9, 5])
    check_rows_consistent(buf.data)
    for leaf in jax.tree.leaves(buf.data):
        assert leaf.dtype == jnp.float32  # float64 input stored as float32


def test_add_one_at_a_time_jitted():
    add_jit = jax.jit(add)
    buf = init_replay(4, OBS_DIM, ACT_DIM)
    for i in range(1, 11):
        buf = add_jit(buf, transitions([i]))
        assert int(buf.pos) == i % 4 and int(buf.size) == min(i, 4)
    # the last four, in ring order
    np.testing.assert_array_equal(buf.data.reward, [9, 10, 7, 8])


@pytest.mark.parametrize("filled", [1, 7])
def test_sample_only_filled_entries(filled):
    buf = init_replay(64, OBS_DIM, ACT_DIM)
    buf = add(buf, transitions(np.arange(1, filled + 1)))
    sample_jit = jax.jit(sample, static_argnums=2)
    seen = set()
    for i in range(20):
        tr = sample_jit(buf, jax.random.PRNGKey(i), (2, 32))
        assert tr.reward.shape == (2, 32) and tr.obs.shape == (2, 32, OBS_DIM)
        assert tr.action.shape == (2, 32, ACT_DIM)
        for leaf in jax.tree.leaves(tr):
            assert leaf.dtype == jnp.float32
        rewards = np.asarray(tr.reward)
        assert set(rewards.ravel()) <= set(range(1, filled + 1))  # never an empty slot (0)
        check_rows_consistent(tr)
        seen |= set(rewards.ravel().tolist())
    assert seen == set(range(1, filled + 1))  # and every filled entry comes up


def test_sample_is_roughly_uniform():
    buf = add(init_replay(16, OBS_DIM, ACT_DIM), transitions(np.arange(1, 9)))
    rewards = np.asarray(sample(buf, jax.random.PRNGKey(0), (8000,)).reward)
    counts = np.bincount(rewards.astype(int), minlength=9)[1:]
    np.testing.assert_allclose(counts / len(rewards), 1 / 8, atol=0.02)
