"""TD3, DDPG and TQC: losses against hand computations, update order, every encoder.

Tiny networks (actor width 16, critic width 32, one block); the loss tests
call jitted losses on fixed batches and compare with float64 numpy.
"""

from __future__ import annotations

import dataclasses

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from tree_helpers import all_finite, copy_tree, trees_equal

from simbarl.agents import ALGORITHMS, td_losses
from simbarl.agents.actor_critic import Batch
from simbarl.agents.exploration import init_noise, sample_noise
from simbarl.analysis.flops import forward_flops, sac_update_flops, update_flops
from simbarl.config import (
    AgentConfig,
    NetworkConfig,
    TrainConfig,
    num_critics,
    resolve_algo,
    validate,
)
from simbarl.runs import checkpoint

OBS_DIM, ACT_DIM, BATCH = 3, 2, 16
GAMMA = 0.99
LR = 1e-2


def make(algo: str, encoder: str = "simbav2", **kw):
    cfg = AgentConfig(
        actor=NetworkConfig(encoder, 16, 1),
        critic=NetworkConfig(encoder, 32, 1),
        learning_rate=LR,
        learning_rate_end=LR,
        **kw,
    )
    cfg = resolve_algo(algo, cfg, suite_clipped_double_q=True)
    n = num_critics(algo, cfg)
    return ALGORITHMS[algo](cfg, OBS_DIM, ACT_DIM, discount=GAMMA, num_critics=n, total_updates=100)


def make_batch(seed: int, lead: tuple = (), terminated=None) -> Batch:
    rng = np.random.default_rng(seed)
    shape = (*lead, BATCH)
    term = rng.integers(0, 2, size=shape) if terminated is None else np.full(shape, terminated)
    f32 = lambda x: jnp.asarray(x, jnp.float32)
    return Batch(
        obs=f32(rng.normal(size=(*shape, OBS_DIM))),
        action=f32(rng.uniform(-1, 1, size=(*shape, ACT_DIM))),
        reward=f32(rng.uniform(-1, 1, size=shape)),
        next_obs=f32(rng.normal(size=(*shape, OBS_DIM))),
        terminated=f32(term),
    )


@pytest.fixture(scope="module")
def td3():
    return make("td3", critic_type="scalar", policy_noise=0.5, noise_clip=0.3)


@pytest.fixture(scope="module")
def td3_state(td3):
    return td3.init(jax.random.PRNGKey(0))


# ------------------------------------------------------------ TD3 / DDPG losses


def test_td3_target_policy_smoothing(td3, td3_state):
    obs, key = make_batch(1).next_obs, jax.random.PRNGKey(5)
    got = np.asarray(td3.next_action(td3_state.target_actor, obs, key))
    base = np.asarray(td3.actor_net.apply(td3_state.target_actor, obs), float)
    noise = 0.5 * np.asarray(jax.random.normal(key, base.shape), float)
    assert (np.abs(noise) > 0.3).any()  # the clip is exercised
    want = np.clip(base + np.clip(noise, -0.3, 0.3), -1.0, 1.0)
    np.testing.assert_allclose(got, want, atol=1e-6)
    assert np.abs(got - base).max() <= 0.3 + 1e-6


def test_ddpg_has_one_critic_and_no_smoothing():
    ddpg = make("ddpg")
    assert ddpg.num_critics == 1 and ddpg.policy_delay == 1 and ddpg.cfg.policy_noise == 0.0
    state = ddpg.init(jax.random.PRNGKey(0))
    obs = make_batch(2).next_obs
    got = ddpg.next_action(state.target_actor, obs, jax.random.PRNGKey(3))
    np.testing.assert_array_equal(got, ddpg.actor_net.apply(state.target_actor, obs))


def test_td3_critic_loss_by_hand(td3, td3_state):
    s, batch, key = td3_state, make_batch(3), jax.random.PRNGKey(7)
    critic = s.critic
    target = td3.init(jax.random.PRNGKey(11)).critic  # differs from the online critic
    loss, _ = jax.jit(td3.critic_loss)(
        critic, target_params=target, target_actor_params=s.target_actor, batch=batch, key=key
    )
    a_next = td3.next_action(s.target_actor, batch.next_obs, key)
    q_next = np.asarray(td3.critic_net.apply(target, batch.next_obs, a_next), float)  # (2, B)
    q = np.asarray(td3.critic_net.apply(critic, batch.obs, batch.action), float)
    assert 0.0 < (q_next[0] < q_next[1]).mean() < 1.0  # each critic is the min somewhere
    r, d = np.asarray(batch.reward, float), np.asarray(batch.terminated, float)
    y = r + GAMMA * (1 - d) * q_next.min(0)
    want = ((q - y) ** 2).mean(-1).sum()
    np.testing.assert_allclose(float(loss), want, rtol=1e-5)
    wrong = ((q - (r + GAMMA * (1 - d) * q_next.max(0))) ** 2).mean(-1).sum()
    assert abs(wrong - want) > 1e-4 * want


def test_td3_actor_maximizes_first_critic(td3, td3_state):
    s, obs = td3_state, make_batch(4).obs
    critic = jax.tree.map(lambda x: x.at[1].multiply(-2.0), s.critic)
    loss, _ = td3.actor_loss(s.actor, critic_params=critic, obs=obs)
    q = np.asarray(td3.q_values(critic, obs, td3.actor_net.apply(s.actor, obs)), float)
    np.testing.assert_allclose(float(loss), -q[0].mean(), rtol=1e-5)
    assert abs(q[1].mean() - q[0].mean()) > 1e-3


def test_td3_exploration_noise(td3, td3_state):
    obs, key = make_batch(5).obs, jax.random.PRNGKey(9)
    base = np.asarray(td3.policy(td3_state.actor, obs), float)
    noisy = np.asarray(td3.policy(td3_state.actor, obs, key), float)
    noise = 0.1 * np.asarray(jax.random.normal(key, base.shape), float)
    np.testing.assert_allclose(noisy, np.clip(base + noise, -1, 1), atol=1e-6)


def test_td3_policy_delay_and_target_order(td3, td3_state):
    batches = make_batch(6, lead=(4,))
    new, metrics = td3.update_many(copy_tree(td3_state), batches)
    assert float(metrics["actor/updates"]) == 2.0  # steps 0 and 2 of 0..3
    assert int(new.step) == 4

    one = jax.tree.map(lambda x: x[:1], batches)
    odd = copy_tree(td3_state).replace(step=jnp.ones((), jnp.int32))
    after, m = td3.update_many(copy_tree(odd), one)
    assert float(m["actor/updates"]) == 0.0
    assert not trees_equal(after.critic, odd.critic)  # the critic always steps
    for name in ("actor", "actor_opt", "target_actor", "target_critic"):
        assert trees_equal(getattr(after, name), getattr(odd, name)), name

    even = copy_tree(td3_state).replace(step=jnp.full((), 2, jnp.int32))
    after, m = td3.update_many(copy_tree(even), one)
    assert float(m["actor/updates"]) == 1.0
    assert not trees_equal(after.actor, even.actor)
    tau = td3.cfg.tau
    for new_t, online, old_t in [
        (after.target_actor, after.actor, even.target_actor),
        (after.target_critic, after.critic, even.target_critic),
    ]:
        want = jax.tree.map(lambda o, t: tau * o + (1 - tau) * t, online, old_t)
        for g, w in zip(jax.tree.leaves(new_t), jax.tree.leaves(want), strict=True):
            np.testing.assert_allclose(g, w, rtol=1e-5, atol=1e-7)


# ------------------------------------------------------------ TQC


def quantile_huber_numpy(online, target, reward, bootstrap, bonus, weight, drop):
    n, b, m = online.shape
    tau = (np.arange(m) + 0.5) / m
    total = 0.0
    for i in range(n):
        per_sample = np.zeros(b)
        for j in range(b):
            atoms = np.sort(target[:, j, :].ravel())[: n * (m - drop)]
            y = reward[j] + bootstrap[j] * (atoms + bonus[j])
            acc = []
            for k in range(m):
                for yy in y:
                    delta = yy - online[i, j, k]
                    h = 0.5 * delta**2 if abs(delta) <= 1.0 else abs(delta) - 0.5
                    acc.append(abs(tau[k] - (delta < 0)) * h)
            per_sample[j] = np.mean(acc)
        total += np.mean(weight * per_sample)
    return total


def test_quantile_huber_truncation_by_hand():
    rng = np.random.default_rng(0)
    n, b, m = 2, 3, 4
    online = rng.normal(size=(n, b, m)) * 2
    target = rng.normal(size=(n, b, m)) * 2
    reward, bootstrap = rng.normal(size=b), np.array([0.99, 0.0, 0.5])
    bonus, weight = rng.normal(size=b) * 0.1, rng.uniform(0.5, 1.5, size=b)
    f = lambda x: jnp.asarray(x, jnp.float32)
    args = dict(reward=f(reward), bootstrap=f(bootstrap), bonus=f(bonus), weight=f(weight))
    for drop in (0, 1, 2):
        loss, td, _ = td_losses.quantile_huber(f(online), f(target), drop=drop, **args)
        want = quantile_huber_numpy(online, target, reward, bootstrap, bonus, weight, drop)
        np.testing.assert_allclose(float(loss), want, rtol=1e-5)
        assert td.shape == (b,)


def test_quantile_huber_drops_largest_atoms():
    f = lambda x: jnp.asarray(x, jnp.float32)
    one = dict(reward=f([0.0]), bootstrap=f([1.0]), bonus=f([0.0]), weight=f([1.0]))
    online = f(np.zeros((2, 1, 3)))
    target = np.array([[[0.0, 1.0, 2.0]], [[0.5, 1.5, 2.5]]])
    base = td_losses.quantile_huber(online, f(target), drop=1, **one)[0]
    # raising the two largest atoms (one per critic, 2.0 and 2.5) changes nothing
    high = target.copy()
    high[0, 0, 2], high[1, 0, 2] = 50.0, 60.0
    np.testing.assert_allclose(td_losses.quantile_huber(online, f(high), drop=1, **one)[0], base)
    # raising the third largest does
    mid = target.copy()
    mid[1, 0, 1] = 40.0  # kept atoms were 0, .5, 1, 1.5; now 0, .5, 1, 2
    assert abs(float(td_losses.quantile_huber(online, f(mid), drop=1, **one)[0]) - base) > 1e-3


def test_tqc_actor_uses_mean_over_critics_sac_the_min():
    q = jnp.asarray([[1.0, 4.0], [3.0, 2.0]])
    np.testing.assert_allclose(make("tqc").actor_q(q), [2.0, 3.0])
    np.testing.assert_allclose(make("sac").actor_q(q), [1.0, 2.0])


def test_tqc_uses_quantile_critics():
    tqc = make("tqc", num_quantiles=5, tqc_critics=3)
    assert tqc.critic_type == "quantile" and tqc.num_critics == 3
    state = tqc.init(jax.random.PRNGKey(0))
    b = make_batch(7)
    out = tqc.critic_net.apply(state.critic, b.obs, b.action)
    assert out.shape == (3, BATCH, 5)


# ------------------------------------------------------------ every algorithm x encoder


PAIRS = [(a, e) for a in ("sac", "td3", "ddpg", "tqc") for e in ("simbav2", "simba", "mlp")]


@pytest.mark.parametrize("algo, encoder", [*PAIRS, ("flashsac", "flashsac")])
def test_algorithm_encoder_updates_and_round_trips(algo, encoder, tmp_path):
    agent = make(algo, encoder, policy_delay=2)
    state = agent.init(jax.random.PRNGKey(1))
    for seed in range(2):
        state, metrics = agent.update_many(state, make_batch(10 + seed, lead=(2,)))
    assert all_finite(state) and all_finite(metrics)
    assert float(metrics["actor/updates"]) == 1.0 and int(state.step) == 4
    action = agent.policy(state.actor, make_batch(1).obs, jax.random.PRNGKey(0))
    assert action.shape == (BATCH, ACT_DIM) and float(jnp.abs(action).max()) <= 1.0

    path = tmp_path / "learner.npz"
    checkpoint.save(path, {"learner": state}, {})
    template = agent.init(jax.random.PRNGKey(99))
    loaded, _ = checkpoint.load(path, {"learner": template})
    assert trees_equal(loaded["learner"], state)
    # a checkpoint of another algorithm does not load silently
    other_encoder = "simbav2" if encoder == "flashsac" else encoder
    other = make("td3" if algo != "td3" else "sac", other_encoder).init(jax.random.PRNGKey(0))
    with pytest.raises(ValueError, match="different"):
        checkpoint.load(path, {"learner": other})


# ------------------------------------------------------------ config


def test_algorithm_settings_are_validated():
    bad = [
        (dict(algo="sac"), dict(critic_type="quantile"), "TQC"),
        (dict(algo="tqc"), dict(quantiles_to_drop=25), "quantiles-to-drop"),
        (dict(algo="td3"), dict(policy_delay=0), "policy-delay"),
        (dict(algo="td3"), dict(exploration_noise=-0.1), "exploration-noise"),
        (dict(algo="flashsac"), dict(), "--algo flashsac needs"),
        (dict(algo="sac"), dict(critic=NetworkConfig("flashsac", 32, 1)), "FlashSAC's"),
        (
            dict(algo="flashsac"),
            dict(
                actor=NetworkConfig("flashsac", 16, 1),
                critic=NetworkConfig("flashsac", 32, 1),
                clipped_double_q=False,
            ),
            "two critics",
        ),
    ]
    for top, agent, message in bad:
        cfg = TrainConfig(**top, agent=AgentConfig(**agent))
        with pytest.raises(ValueError, match=message):
            validate(cfg)


def test_algorithm_defaults_resolve():
    resolved = {a: resolve_algo(a, AgentConfig(), False) for a in ALGORITHMS}
    assert resolved["sac"].clipped_double_q is False  # by suite (DMC here)
    assert resolved["td3"].clipped_double_q and resolved["td3"].policy_delay == 2
    assert resolved["td3"].policy_noise == 0.2
    assert not resolved["ddpg"].clipped_double_q and resolved["ddpg"].policy_noise == 0.0
    assert resolved["tqc"].critic_type == "quantile"
    assert resolved["flashsac"].clipped_double_q and resolved["flashsac"].policy_delay == 2
    explicit = dataclasses.replace(AgentConfig(), policy_delay=3, clipped_double_q=False)
    assert resolve_algo("td3", explicit, True).policy_delay == 3
    assert not resolve_algo("td3", explicit, True).clipped_double_q


# ------------------------------------------------------------ exploration noise


def test_per_env_noise_scales_redrawn_at_episode_start():
    cfg = AgentConfig(exploration_noise=0.05, exploration_noise_max=0.4)
    st = init_noise(cfg, jax.random.PRNGKey(0), 64, ACT_DIM)
    scale0 = np.asarray(st.scale)
    assert np.all((scale0 >= 0.05) & (scale0 <= 0.4)) and scale0.std() > 0.05
    reset = np.zeros(64, np.float32)
    reset[:8] = 1.0
    noise, st1 = sample_noise(cfg, st, jax.random.PRNGKey(1), jnp.asarray(reset))
    scale1 = np.asarray(st1.scale)
    np.testing.assert_array_equal(scale1[8:], scale0[8:])  # running episodes keep theirs
    assert not np.array_equal(scale1[:8], scale0[:8])
    _, k_eps = jax.random.split(jax.random.PRNGKey(1))
    eps = np.asarray(jax.random.normal(k_eps, (64, ACT_DIM)))
    np.testing.assert_allclose(noise, scale1[:, None] * eps, rtol=1e-6)


def test_ou_noise_recursion_and_reset():
    cfg = AgentConfig(noise_type="ou", exploration_noise=0.2, ou_theta=0.15)
    st = init_noise(cfg, jax.random.PRNGKey(0), 3, ACT_DIM)
    no_reset = jnp.zeros(3)
    x = np.zeros((3, ACT_DIM))
    for i in range(4):
        key = jax.random.PRNGKey(10 + i)
        noise, st = sample_noise(cfg, st, key, no_reset)
        eps = np.asarray(jax.random.normal(jax.random.split(key)[1], (3, ACT_DIM)))
        x = x - 0.15 * x + 0.2 * eps
        np.testing.assert_allclose(noise, x, rtol=1e-5, atol=1e-6)
    # a reset env restarts its process from zero
    key = jax.random.PRNGKey(99)
    noise, _ = sample_noise(cfg, st, key, jnp.asarray([1.0, 0.0, 0.0]))
    eps = np.asarray(jax.random.normal(jax.random.split(key)[1], (3, ACT_DIM)))
    np.testing.assert_allclose(noise[0], 0.2 * eps[0], rtol=1e-5)
    np.testing.assert_allclose(noise[1], x[1] - 0.15 * x[1] + 0.2 * eps[1], rtol=1e-5)


def test_td3_explore_adds_noise_sac_samples(td3, td3_state):
    obs = make_batch(8).obs[:3]
    st = init_noise(td3.cfg, jax.random.PRNGKey(0), 3, ACT_DIM)
    key = jax.random.PRNGKey(4)
    action, _ = td3.explore(td3_state.actor, obs, key, st, jnp.zeros(3))
    noise, _ = sample_noise(td3.cfg, st, key, jnp.zeros(3))
    want = np.clip(np.asarray(td3.policy(td3_state.actor, obs)) + np.asarray(noise), -1, 1)
    np.testing.assert_allclose(action, want, rtol=1e-6)
    sac = make("sac")
    s = sac.init(jax.random.PRNGKey(0))
    got, same = sac.explore(s.actor, obs, key, st, jnp.zeros(3))
    np.testing.assert_array_equal(got, sac.policy(s.actor, obs, key))
    assert same is st


# ------------------------------------------------------------ resets


@pytest.mark.parametrize("networks", ["both", "actor", "critic"])
def test_reset_reinitializes_networks_keeps_schedule(td3, td3_state, networks):
    state, _ = td3.update_many(copy_tree(td3_state), make_batch(12, lead=(2,)))
    out = td3.reset(state, networks)
    fresh = td3.init(jax.random.split(state.key)[1])
    parts = {"actor": ("actor", "target_actor"), "critic": ("critic", "target_critic")}
    for which, names in parts.items():
        reset = networks in ("both", which)
        for name in names:
            assert trees_equal(getattr(out, name), getattr(fresh if reset else state, name))
        opt = getattr(out, f"{which}_opt")
        adam, schedule = opt[0], opt[-1]
        assert int(schedule.count) == int(getattr(state, f"{which}_opt")[-1].count) > 0
        assert int(adam.count) == (0 if reset else int(getattr(state, f"{which}_opt")[0].count))
    assert int(out.step) == int(state.step) and not np.array_equal(out.key, state.key)


def test_update_flops_by_algorithm():
    sac_, td3_ = make("sac"), make("td3")
    s, t = sac_.init(jax.random.PRNGKey(0)), td3_.init(jax.random.PRNGKey(0))
    a, c = forward_flops(s.actor), forward_flops(s.critic)
    assert update_flops("sac", s.actor, s.critic, 8, 2) == sac_update_flops(s.actor, s.critic, 8)
    assert update_flops("sac", s.actor, s.critic, 8, 2) == 8 * (4 * a + 6 * c)
    # TD3: the actor step (every 2nd update) differentiates the first critic only
    a, c = forward_flops(t.actor), forward_flops(t.critic)
    want = 8 * (a + 4 * c + (3 * a + c) / 2)
    assert update_flops("td3", t.actor, t.critic, 8, 2, policy_delay=2) == want
