"""n-step returns and prioritized replay, against hand computations and sampling rates."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from simbarl.agents import ALGORITHMS
from simbarl.agents.actor_critic import Batch
from simbarl.config import AgentConfig, NetworkConfig, resolve_algo
from simbarl.replay import Transition, add, init_replay
from simbarl.replay import prioritized as per
from simbarl.replay.n_step import n_step_at

GAMMA = 0.9


def two_env_buffer(capacity: int = 64):
    """Two envs, 5 steps each, interleaved as the host loop writes them.

    env 0: rewards 1..5, terminated at its step 2 (then a new episode).
    env 1: rewards 10..50, truncated by a time limit at its step 1.
    ``next_obs`` of env e at step t is ``[100 e + t]``.
    """
    buf = init_replay(capacity, obs_dim=1, action_dim=1)
    for t in range(5):
        f = lambda a: jnp.asarray(a, jnp.float32)
        buf = add(
            buf,
            Transition(
                obs=f([[t], [t]]),
                action=f([[0.0], [0.0]]),
                reward=f([t + 1, 10 * (t + 1)]),
                next_obs=f([[t], [100 + t]]),
                terminated=f([t == 2, 0]),
                truncated=f([0, t == 1]),
            ),
        )
    return buf


def slot(env: int, t: int) -> int:
    return 2 * t + env


@pytest.mark.parametrize(
    "env, t, reward, horizon, next_obs, terminated",
    [
        (0, 0, 1 + GAMMA * 2 + GAMMA**2 * 3, 3, 2, 1),  # runs into the termination
        (0, 1, 2 + GAMMA * 3, 2, 2, 1),  # stops at the termination
        (0, 3, 4 + GAMMA * 5, 2, 4, 0),  # new episode; stops at the newest data
        (0, 4, 5, 1, 4, 0),  # the newest transition
        (1, 0, 10 + GAMMA * 20, 2, 101, 0),  # stops at the truncation, bootstraps
        (1, 2, 30 + GAMMA * 40 + GAMMA**2 * 50, 3, 104, 0),
    ],
)
def test_n_step_across_episode_ends(env, t, reward, horizon, next_obs, terminated):
    buf = two_env_buffer()
    idx = jnp.asarray([slot(env, t)])
    tr, h = n_step_at(buf, idx, n=3, gamma=GAMMA, stride=2)
    np.testing.assert_allclose(float(tr.reward[0]), reward, rtol=1e-6)
    assert float(h[0]) == horizon
    assert float(tr.next_obs[0, 0]) == next_obs
    assert float(tr.terminated[0]) == terminated
    assert float(tr.obs[0, 0]) == t  # the first step's observation and action


def test_n_step_wraps_around_the_ring():
    buf = two_env_buffer(capacity=6)  # 10 writes into 6 slots: the ring wrapped
    # env 1's step 3 was written at write 7 -> slot 1; its next step (write 9) at slot 3
    tr, h = n_step_at(buf, jnp.asarray([1]), n=3, gamma=GAMMA, stride=2)
    np.testing.assert_allclose(float(tr.reward[0]), 40 + GAMMA * 50, rtol=1e-6)
    assert float(h[0]) == 2 and float(tr.next_obs[0, 0]) == 104


def test_n_step_target_bootstraps_with_gamma_to_the_horizon():
    cfg = AgentConfig(
        actor=NetworkConfig("mlp", 8, 1), critic=NetworkConfig("mlp", 8, 1), critic_type="scalar"
    )
    cfg = resolve_algo("td3", cfg, True)
    td3 = ALGORITHMS["td3"](cfg, 2, 1, discount=GAMMA, num_critics=2, total_updates=10)
    s = td3.init(jax.random.PRNGKey(0))
    rng = np.random.default_rng(0)
    f = lambda x: jnp.asarray(x, jnp.float32)
    batch = Batch(
        obs=f(rng.normal(size=(4, 2))),
        action=f(rng.uniform(-1, 1, size=(4, 1))),
        reward=f([1.0, 2.0, 3.0, 4.0]),
        next_obs=f(rng.normal(size=(4, 2))),
        terminated=f([0, 0, 1, 0]),
        horizon=f([1, 2, 3, 3]),
        weight=f([1.0, 0.5, 2.0, 1.0]),
    )
    key = jax.random.PRNGKey(1)
    loss, _ = td3.critic_loss(
        s.critic,
        target_params=s.target_critic,
        target_actor_params=s.target_actor,
        batch=batch,
        key=key,
    )
    a_next = td3.next_action(s.target_actor, batch.next_obs, key)
    q_next = np.asarray(td3.critic_net.apply(s.target_critic, batch.next_obs, a_next)).min(0)
    q = np.asarray(td3.critic_net.apply(s.critic, batch.obs, batch.action), float)
    y = np.array([1, 2, 3, 4]) + GAMMA ** np.array([1, 2, 3, 3]) * np.array([1, 1, 0, 1]) * q_next
    want = (np.array([1.0, 0.5, 2.0, 1.0]) * (q - y) ** 2).mean(-1).sum()
    np.testing.assert_allclose(float(loss), want, rtol=1e-5)


# ------------------------------------------------------------ prioritized


def test_sum_tree_keeps_sums_under_repeated_updates():
    st = per.init_tree(13)  # 16 leaves
    rng = np.random.default_rng(0)
    for _ in range(5):
        idx = rng.integers(0, 13, size=9)  # repeats included
        st = per.set_priorities(st, jnp.asarray(idx), jnp.asarray(rng.uniform(0.1, 3, size=9)))
    tree = np.asarray(st.tree, np.float64)
    for node in range(1, 16):
        np.testing.assert_allclose(tree[node], tree[2 * node] + tree[2 * node + 1], rtol=1e-5)
    assert float(st.max_priority) >= tree[16:].max() - 1e-6


def test_prioritized_sampling_frequencies_and_weights():
    st = per.init_tree(8)
    priorities = np.array([1.0, 2.0, 3.0, 4.0, 0.0, 5.0, 0.5, 0.0])
    st = per.set_priorities(st, jnp.arange(8), jnp.asarray(priorities))
    n = 20_000
    idx, w = jax.jit(per.sample, static_argnums=2)(
        st, jax.random.PRNGKey(0), (4, n // 4), jnp.asarray(8), 0.5
    )
    counts = np.bincount(np.asarray(idx).ravel(), minlength=8) / n
    p = priorities / priorities.sum()
    # stratified sampling: the error is below the binomial one
    sd = np.sqrt(p * (1 - p) / n)
    assert np.all(np.abs(counts - p) <= 4 * sd + 1e-9), (counts, p)
    assert counts[4] == counts[7] == 0.0  # zero priority: never drawn
    # importance weights (N P(i))^-beta, divided by each batch's maximum
    idx, w = np.asarray(idx), np.asarray(w)
    raw = (8 * p[idx]) ** -0.5
    np.testing.assert_allclose(w, raw / raw.max(axis=-1, keepdims=True), rtol=1e-5)


def test_new_transitions_get_max_priority():
    buf = init_replay(4, 1, 1, prioritized=True)
    f = lambda a: jnp.asarray(a, jnp.float32)
    tr = Transition(f([[0.0]]), f([[0.0]]), f([0.0]), f([[0.0]]), f([0.0]), f([0.0]))
    buf = add(buf, tr)
    assert float(buf.priorities.tree[1]) == 1.0  # the initial max priority
    buf = buf.replace(priorities=per.set_priorities(buf.priorities, jnp.asarray([0]), f([7.0])))
    buf = add(buf, tr)
    leaves = np.asarray(buf.priorities.tree[buf.priorities.leaves :])
    np.testing.assert_allclose(leaves[:2], [7.0, 7.0])
