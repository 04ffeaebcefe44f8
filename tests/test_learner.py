"""The SAC learner: projection, determinism, TD targets, update order, ablations.

Networks are tiny (actor width 16, critic width 32, one block). Compilation
dominates the run time, so there are only two agents (one ``update_many``
compile each, always called with shapes (utd 1, batch 16)), losses and network
applications are jitted once per module, and every call uses one batch size.
"""

from __future__ import annotations

import dataclasses

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from tree_helpers import all_finite, copy_tree, trees_equal

from simbarl.agents.common import is_hyper_kernel, project, tanh_gaussian_sample
from simbarl.agents.sac import SAC, Batch
from simbarl.config import AgentConfig, NetworkConfig, discount_heuristic

OBS_DIM, ACT_DIM, BATCH = 3, 2, 16
GAMMA = 0.99
LR = 1e-2  # large, constant: one step visibly moves every parameter

TINY = AgentConfig(
    actor=NetworkConfig("simbav2", 16, 1),
    critic=NetworkConfig("simbav2", 32, 1),
    learning_rate=LR,
    learning_rate_end=LR,
)


def make_agent(cfg: AgentConfig = TINY, num_critics: int = 2) -> SAC:
    return SAC(cfg, OBS_DIM, ACT_DIM, discount=GAMMA, num_critics=num_critics, total_updates=100)


def make_batch(seed: int, batch: int = BATCH, terminated=None, lead: tuple = ()) -> Batch:
    rng = np.random.default_rng(seed)
    shape = (*lead, batch)
    term = np.zeros(shape) if terminated is None else np.broadcast_to(terminated, shape)
    return Batch(
        obs=jnp.asarray(rng.normal(size=(*shape, OBS_DIM)), jnp.float32),
        action=jnp.asarray(rng.uniform(-1, 1, size=(*shape, ACT_DIM)), jnp.float32),
        reward=jnp.asarray(rng.uniform(-3, 3, size=shape), jnp.float32),
        next_obs=jnp.asarray(rng.normal(size=(*shape, OBS_DIM)), jnp.float32),
        terminated=jnp.asarray(term, jnp.float32),
    )


def utd_batch(seed: int) -> Batch:
    """A ``(1, BATCH)`` batch: the one shape ``update_many`` is compiled for."""
    return make_batch(seed, lead=(1,))


def hyper_kernels(params) -> list[np.ndarray]:
    leaves = jax.tree_util.tree_flatten_with_path(params)[0]
    return [np.asarray(w, np.float64) for p, w in leaves if is_hyper_kernel(p)]


def max_norm_error(params) -> float:
    kernels = hyper_kernels(params)
    assert kernels
    return max(float(np.abs(np.linalg.norm(w, axis=-2) - 1.0).max()) for w in kernels)


# ------------------------------------------------------------ fixtures


@pytest.fixture(scope="module")
def agent() -> SAC:
    return make_agent()


@pytest.fixture(scope="module")
def init_state(agent):
    """A pristine initial state; copy it before handing it to ``update_many``."""
    return agent.init(jax.random.PRNGKey(0))


@pytest.fixture(scope="module")
def ablated() -> SAC:
    """Scalar critic without weight projection (the SimBa-style ablation pair)."""
    return make_agent(dataclasses.replace(TINY, critic_type="scalar", weight_projection=False))


class Jitted:
    """One compile per module for each function the tests call repeatedly."""

    def __init__(self, agent: SAC):
        self.critic_loss = jax.jit(agent.critic_loss)
        self.actor_loss = jax.jit(agent.actor_loss)
        self.actor_apply = jax.jit(agent.actor_net.apply)
        self.critic_apply = jax.jit(agent.critic_net.apply)
        self.sample = jax.jit(tanh_gaussian_sample)


@pytest.fixture(scope="module")
def jitted(agent) -> Jitted:
    return Jitted(agent)


def run_updates(agent: SAC, state, seeds) -> tuple:
    metrics = []
    for s in seeds:
        state, m = agent.update_many(state, utd_batch(s))
        metrics.append(jax.device_get(m))
    return state, metrics


# ------------------------------------------------------------ numpy references


def two_hot(support: np.ndarray, probs: np.ndarray, bins: np.ndarray) -> np.ndarray:
    """C51 projection in float64 numpy (independent of ``categorical.project``)."""
    v_min, v_max, n = bins[0], bins[-1], len(bins)
    dz = (v_max - v_min) / (n - 1)
    b = (np.clip(support, v_min, v_max) - v_min) / dz
    lo, hi = np.floor(b).astype(int), np.ceil(b).astype(int)
    out = np.zeros(support.shape[:-1] + (n,))
    rows = np.arange(support.shape[0])[:, None].repeat(support.shape[1], 1)
    np.add.at(out, (rows, lo), probs * (hi - b) + probs * (lo == hi))
    np.add.at(out, (rows, hi), probs * (b - lo))
    return out


def log_softmax(x: np.ndarray) -> np.ndarray:
    x = x - x.max(-1, keepdims=True)
    return x - np.log(np.exp(x).sum(-1, keepdims=True))


def hand_critic_loss(agent, fns, critic, target, actor, log_temp, batch, key, pick="argmin"):
    """The distributional TD loss of NOTES.md, in float64 numpy past the networks.

    ``pick``: which target critic supplies each sample's target distribution
    (``argmin`` is the spec; the others show that the test discriminates).
    """
    mean, log_std = fns.actor_apply(actor, batch.next_obs)
    next_action, next_logp = fns.sample(mean, log_std, key)
    target_logits = np.asarray(fns.critic_apply(target, batch.next_obs, next_action), float)
    online_logits = np.asarray(fns.critic_apply(critic, batch.obs, batch.action), float)
    bins = np.linspace(agent.cfg.v_min, agent.cfg.v_max, agent.cfg.num_bins)
    probs = np.exp(log_softmax(target_logits))  # (C, B, bins)
    q = (probs * bins).sum(-1)  # (C, B)
    idx = {
        "argmin": q.argmin(0),
        "argmax": q.argmax(0),
        "first": np.zeros(q.shape[1], int),
        "last": np.full(q.shape[1], q.shape[0] - 1),
    }[pick]
    chosen = probs[idx, np.arange(q.shape[1])]  # (B, bins)
    r = np.asarray(batch.reward, float)[:, None]
    not_done = 1.0 - np.asarray(batch.terminated, float)[:, None]
    alpha = float(np.exp(log_temp))
    support = r + agent.discount * not_done * (bins[None] - alpha * np.asarray(next_logp)[:, None])
    tgt = two_hot(support, chosen, bins)
    ce = -(tgt[None] * log_softmax(online_logits)).sum(-1)  # (C, B)
    return ce.mean(-1).sum(), q


def call_critic_loss(fns, critic, target, actor, log_temp, batch, key) -> float:
    loss, _ = fns.critic_loss(
        critic,
        target_params=target,
        actor_params=actor,
        log_temp=jnp.asarray(log_temp, jnp.float32),
        batch=batch,
        key=key,
    )
    return float(loss)


def sharpen(critic, seed: int, bias_scale: float, scaler_gain: float):
    """Make a critic's categorical output far from uniform (and sample dependent),
    so that the cross-entropy is sensitive to which target it is compared with."""
    critic = copy_tree(critic)
    head = critic["params"]["LinearHead_0"]
    bias = jax.random.normal(jax.random.PRNGKey(seed), head["bias"].shape)
    head["bias"] = bias_scale * bias
    head["Scaler_0"]["scaler"] = scaler_gain * head["Scaler_0"]["scaler"]
    return critic


# ------------------------------------------------------------ projection


def test_weights_unit_norm_after_init_and_updates(agent, init_state):
    assert max_norm_error(init_state.actor) < 1e-5
    assert max_norm_error(init_state.critic) < 1e-5
    assert trees_equal(init_state.critic, init_state.target_critic)

    state, metrics = run_updates(agent, copy_tree(init_state), seeds=[1, 2, 3])
    assert max_norm_error(state.actor) < 1e-5
    assert max_norm_error(state.critic) < 1e-5
    assert int(state.step) == 3
    # the updates really moved the weights
    assert not trees_equal(state.actor, init_state.actor)
    assert not trees_equal(state.critic, init_state.critic)
    for m in metrics:  # categorical critic: metrics present and finite
        assert set(m) >= {"actor/loss", "actor/entropy", "critic/loss", "critic/q"}
        assert all(np.isfinite(v) for v in m.values()), m
    assert all_finite(state)


def test_no_projection_drifts_off_the_sphere(ablated):
    state = ablated.init(jax.random.PRNGKey(0))
    # not projected at init: the orthogonal (in < out) embedder kernels have non-unit columns
    assert max_norm_error(state.actor) > 1e-2
    # start on the sphere, then train: nothing pulls the weights back
    sphere = state.replace(
        actor=project(state.actor),
        critic=project(state.critic),
        target_critic=project(state.target_critic),
    )
    assert max_norm_error(sphere.actor) < 1e-5
    state, _ = run_updates(ablated, sphere, seeds=[1, 2, 3])
    assert max_norm_error(state.actor) > 1e-3
    assert max_norm_error(state.critic) > 1e-3


# ------------------------------------------------------------ determinism


def test_same_seed_same_params_different_seed_different(agent, init_state):
    again = agent.init(jax.random.PRNGKey(0))
    assert trees_equal(again, init_state)
    other = agent.init(jax.random.PRNGKey(1))
    assert not trees_equal(other.actor, init_state.actor)
    assert not trees_equal(other.critic, init_state.critic)

    a, _ = run_updates(agent, copy_tree(init_state), seeds=[4, 5])
    b, _ = run_updates(agent, again, seeds=[4, 5])
    c, _ = run_updates(agent, other, seeds=[4, 5])
    assert trees_equal(a, b)
    assert not trees_equal(a.actor, c.actor)
    assert not trees_equal(a.critic, c.critic)


# ------------------------------------------------------------ TD target


def target_q(fns, target, actor, batch, key) -> np.ndarray:
    """Expected Q of each target critic at the sampled next actions, ``(C, B)``."""
    mean, log_std = fns.actor_apply(actor, batch.next_obs)
    next_action, _ = fns.sample(mean, log_std, key)
    logits = fns.critic_apply(target, batch.next_obs, next_action)
    bins = np.linspace(-5.0, 5.0, 101)
    return np.asarray((jax.nn.softmax(logits, axis=-1) * bins).sum(-1))


def balance(fns, target, actor, batch, key):
    """Tilt critic 1's head bias by ``t * bins`` so that the two critics' median
    expected Q coincide: each is then the lower one for about half the samples."""
    bins = jnp.linspace(-5.0, 5.0, 101)

    def tilted(t):
        out = copy_tree(target)
        head = out["params"]["LinearHead_0"]
        head["bias"] = head["bias"].at[1].add(t * bins)
        return out

    lo, hi = -2.0, 2.0
    for _ in range(40):  # the median gap is increasing in t
        mid = 0.5 * (lo + hi)
        q = target_q(fns, tilted(mid), actor, batch, key)
        lo, hi = (lo, mid) if np.median(q[1] - q[0]) > 0 else (mid, hi)
    return tilted(0.5 * (lo + hi))


@pytest.fixture(scope="module")
def loss_inputs(agent, jitted, init_state):
    """A sharp online critic, a differently seeded sharp target critic, actor, alpha 0.5."""
    key, actor = jax.random.PRNGKey(11), init_state.actor
    target = sharpen(agent.init(jax.random.PRNGKey(7)).critic, 8, 0.0, 4.0)
    return {
        "critic": sharpen(init_state.critic, 9, 3.0, 1.0),
        "target": balance(jitted, target, actor, make_batch(21), key),
        "actor": actor,
        "log_temp": float(np.log(0.5)),
        "key": key,
    }


def _args(inp, batch):
    return (inp["critic"], inp["target"], inp["actor"], inp["log_temp"], batch, inp["key"])


def test_target_distribution_from_argmin_critic(agent, jitted, loss_inputs):
    args = _args(loss_inputs, make_batch(21))
    got = call_critic_loss(jitted, *args)
    want, q = hand_critic_loss(agent, jitted, *args, pick="argmin")
    choice = q.argmin(0)
    # the case is informative: each target critic is the lower one for some samples
    assert 4 <= choice.sum() <= len(choice) - 4, q
    np.testing.assert_allclose(got, want, rtol=1e-5)
    for wrong in ("argmax", "first", "last"):
        other, _ = hand_critic_loss(agent, jitted, *args, pick=wrong)
        assert abs(other - want) > 1e-3 * abs(want), wrong


def test_terminated_collapses_target_to_reward(agent, jitted, loss_inputs):
    inp = loss_inputs
    batch = make_batch(22, terminated=1.0)
    got = call_critic_loss(jitted, *_args(inp, batch))

    # cross-entropy against the projection of a point mass at r
    bins = np.linspace(-5.0, 5.0, 101)
    r = np.asarray(batch.reward, float)
    point = two_hot(r[:, None], np.ones((len(r), 1)), bins)
    online = np.asarray(jitted.critic_apply(inp["critic"], batch.obs, batch.action), float)
    want = -(point[None] * log_softmax(online)).sum(-1).mean(-1).sum()
    np.testing.assert_allclose(got, want, rtol=1e-5)

    # nothing about the next state, the target critic or the temperature matters
    moved = batch.replace(next_obs=batch.next_obs + 5.0)
    args = (inp["critic"], inp["critic"], inp["actor"], 2.0, moved, jax.random.PRNGKey(3))
    np.testing.assert_allclose(call_critic_loss(jitted, *args), got, rtol=1e-6)


def test_truncated_bootstraps(agent, jitted, loss_inputs):
    inp = loss_inputs
    batch = make_batch(22, terminated=0.0)  # same data, time-limit truncation only
    got = call_critic_loss(jitted, *_args(inp, batch))
    want, _ = hand_critic_loss(agent, jitted, *_args(inp, batch))
    np.testing.assert_allclose(got, want, rtol=1e-5)
    terminal = call_critic_loss(jitted, *_args(inp, batch.replace(terminated=jnp.ones(BATCH))))
    assert abs(got - terminal) > 1e-2 * abs(got)

    mixed = batch.replace(terminated=jnp.asarray(np.arange(BATCH) % 2, jnp.float32))
    want_mixed, _ = hand_critic_loss(agent, jitted, *_args(inp, mixed))
    np.testing.assert_allclose(call_critic_loss(jitted, *_args(inp, mixed)), want_mixed, rtol=1e-5)


def test_discount_heuristic_published_values():
    assert discount_heuristic(1000, 1) == pytest.approx(0.995)  # MuJoCo
    assert discount_heuristic(1000, 2) == pytest.approx(0.99)  # DMC
    assert discount_heuristic(100, 2) == pytest.approx(0.95)  # MyoSuite
    assert discount_heuristic(1000, 2) == pytest.approx(0.99)  # HumanoidBench
    # the clip at both ends, and an unclipped value
    assert discount_heuristic(20, 1) == pytest.approx(0.95)
    assert discount_heuristic(100_000, 1) == pytest.approx(0.995)
    assert discount_heuristic(500, 1) == pytest.approx(0.99)


# ------------------------------------------------------------ update order


def test_update_order_critic_uses_new_actor_and_temperature(agent, jitted, init_state):
    # alpha = 1 and a sharp critic make the critic loss sensitive to actor and alpha
    critic = sharpen(init_state.critic, 9, 3.0, 1.0)
    old = copy_tree(init_state).replace(
        critic=critic, target_critic=copy_tree(critic), log_temp=jnp.zeros((), jnp.float32)
    )
    batch = make_batch(30)
    new, metrics = agent.update_many(copy_tree(old), utd_batch(30))
    _, k_actor, k_critic = jax.random.split(old.key, 3)

    def loss_with(actor, log_temp):
        return call_critic_loss(
            jitted, old.critic, old.target_critic, actor, log_temp, batch, k_critic
        )

    reported = float(metrics["critic/loss"])
    new_new = loss_with(new.actor, new.log_temp)
    np.testing.assert_allclose(reported, new_new, rtol=1e-5)
    for stale in (loss_with(old.actor, new.log_temp), loss_with(new.actor, old.log_temp)):
        assert abs(reported - stale) > 2e-4 * abs(reported), (reported, stale)

    # the actor step saw the old critic and the old temperature
    actor_loss, (entropy, _) = jitted.actor_loss(
        old.actor, critic_params=old.critic, log_temp=old.log_temp, obs=batch.obs, key=k_actor
    )
    np.testing.assert_allclose(float(metrics["actor/loss"]), float(actor_loss), rtol=1e-5)
    np.testing.assert_allclose(float(metrics["actor/entropy"]), float(entropy), rtol=1e-5)
    # the temperature step saw the old temperature and the old actor's entropy
    want = np.exp(float(old.log_temp)) * (float(entropy) - agent.target_entropy)
    np.testing.assert_allclose(float(metrics["temperature/loss"]), want, rtol=1e-5)

    # target critic: EMA of the *new* critic, not re-projected
    tau = agent.cfg.tau
    expect = jax.tree.map(lambda c, t: tau * c + (1 - tau) * t, new.critic, old.target_critic)
    for got, want in zip(jax.tree.leaves(new.target_critic), jax.tree.leaves(expect), strict=True):
        np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-7)


def test_temperature_loss_gradient_sign(agent):
    target = agent.target_entropy
    log_temp = jnp.asarray(np.log(0.01), jnp.float32)
    for entropy, direction in [(target + 1.0, -1.0), (target - 1.0, +1.0)]:
        grad, _ = jax.grad(agent.temperature_loss, has_aux=True)(log_temp, entropy=entropy)
        # d/d log(alpha) of alpha * (entropy - target) = alpha * (entropy - target)
        assert float(grad) == pytest.approx(-direction * 0.01, rel=1e-5)
        step, _ = agent.temp_tx.update(grad, agent.temp_tx.init(log_temp), log_temp)
        assert direction * float(step) > 0


def test_temperature_falls_when_entropy_above_target(agent, jitted, init_state):
    # pin the log-std head at raw = atanh(2/3): log_std = -10 + 6 * (1 + 2/3) = 0
    actor = copy_tree(init_state.actor)
    head = actor["params"]["log_std"]
    head["Scaler_0"]["scaler"] = jnp.zeros_like(head["Scaler_0"]["scaler"])
    head["bias"] = jnp.full_like(head["bias"], np.arctanh(2.0 / 3.0))
    _, log_std = jitted.actor_apply(actor, make_batch(31).obs)
    np.testing.assert_allclose(log_std, 0.0, atol=1e-5)

    wide = copy_tree(init_state).replace(actor=actor)
    new, metrics = agent.update_many(copy_tree(wide), utd_batch(31))
    assert float(metrics["actor/entropy"]) > agent.target_entropy
    assert float(new.log_temp) < float(wide.log_temp)

    # the freshly initialized policy (log_std about -4) is below target: alpha rises
    new, metrics = agent.update_many(copy_tree(init_state), utd_batch(31))
    assert float(metrics["actor/entropy"]) < agent.target_entropy
    assert float(new.log_temp) > float(init_state.log_temp)


# ------------------------------------------------------------ variants


def test_scalar_critic_updates_without_nan(ablated):
    state = ablated.init(jax.random.PRNGKey(0))
    batch = make_batch(40, terminated=1.0)
    q = ablated.q_values(state.critic, batch.obs, batch.action)
    assert q.shape == (2, BATCH)

    # terminal transitions: MSE against the reward, summed over the two critics
    loss, _ = ablated.critic_loss(
        state.critic,
        target_params=state.target_critic,
        actor_params=state.actor,
        log_temp=state.log_temp,
        batch=batch,
        key=jax.random.PRNGKey(0),
    )
    want = ((np.asarray(q, float) - np.asarray(batch.reward, float)[None]) ** 2).mean(-1).sum()
    np.testing.assert_allclose(float(loss), want, rtol=1e-5)

    state, metrics = run_updates(ablated, state, seeds=[41, 42, 43])
    assert all(np.isfinite(v) for m in metrics for v in m.values())
    assert all_finite(state)


def test_input_shift_ablation_removes_extra_coordinate():
    def embed_shapes(cfg):
        state = jax.eval_shape(make_agent(cfg).init, jax.random.PRNGKey(0))
        shapes = []
        for params in (state.actor, state.critic):
            emb = params["params"]["SimbaV2Encoder_0"]["HyperEmbedder_0"]
            shapes.append(emb["HyperDense_0"]["hyper"]["kernel"].shape)
        return tuple(shapes)

    assert embed_shapes(TINY) == ((OBS_DIM + 1, 16), (2, OBS_DIM + ACT_DIM + 1, 32))
    off = dataclasses.replace(TINY, input_shift=False)
    assert embed_shapes(off) == ((OBS_DIM, 16), (2, OBS_DIM + ACT_DIM, 32))


def test_init_values_match_spec(agent, init_state):
    assert float(jnp.exp(init_state.log_temp)) == pytest.approx(0.01, rel=1e-6)
    assert agent.target_entropy == pytest.approx(-ACT_DIM / 2)
    np.testing.assert_allclose(agent.bins, np.linspace(-5, 5, 101), atol=1e-6)
    assert int(init_state.step) == 0


def test_actor_and_critic_learning_rates_scale_apart():
    """Adam's first step is the learning rate itself (g / |g| = 1): the critic's is
    ``learning_rate x critic_lr_scale``, the actor's likewise, the temperature's plain."""
    cfg = dataclasses.replace(TINY, actor_lr_scale=0.5, critic_lr_scale=3.0)
    agent = make_agent(cfg)
    tree = {"w": jnp.ones(4)}
    for tx, expected in ((agent.actor_tx, 0.5 * LR), (agent.critic_tx, 3.0 * LR)):
        step, _ = tx.update(tree, tx.init(tree), tree)
        np.testing.assert_allclose(np.asarray(step["w"]), -expected, rtol=1e-4)
    step, _ = agent.temp_tx.update(tree, agent.temp_tx.init(tree), tree)
    np.testing.assert_allclose(np.asarray(step["w"]), -LR, rtol=1e-4)
