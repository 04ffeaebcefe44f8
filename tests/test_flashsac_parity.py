"""FlashSAC in JAX against the official PyTorch code, from a recorded fixture.

``tests/fixtures/flashsac_parity.npz`` was written by
``benchmarks/flashsac_parity_fixture.py`` with the official FlashSAC code (commit
87edc90, fp32, no AMP): its initial weights, batches and standard normal draws, the
forward outputs of the initial networks, and after each of three updates (the actor
stepping on the first and third) every weight, BatchNorm buffer, metric, learning rate,
plus the first update's gradients and a reward-normalizer sequence. Here the JAX
learner starts from those weights, draws the same noise and must land on the same
numbers within float32 tolerance. Neither torch nor the official code is needed.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from simbarl.agents import ALGORITHMS
from simbarl.agents.actor_critic import Batch
from simbarl.agents.common import cosine_lr_schedule
from simbarl.config import AgentConfig, NetworkConfig, resolve_algo
from simbarl.config.presets import gaussian_entropy_scale
from simbarl.normalizers import init_reward_scaler, reward_scale, update_reward_scaler

FIXTURE = Path(__file__).parent / "fixtures" / "flashsac_parity.npz"


@pytest.fixture(scope="module")
def fx():
    with np.load(FIXTURE) as data:
        return {k: data[k] for k in data.files}


@pytest.fixture(scope="module")
def meta(fx):
    return ast.literal_eval(str(fx["meta"]))


@pytest.fixture(scope="module")
def agent(meta):
    (ab, aw), (cb, cw) = meta["actor"], meta["critic"]
    cfg = AgentConfig(
        actor=NetworkConfig("flashsac", aw, ab),
        critic=NetworkConfig("flashsac", cw, cb),
        tau=meta["tau"],
        learning_rate=3e-4,
        learning_rate_end=1.5e-4,
        temperature_init=meta["temp0"],
        target_entropy_scale=gaussian_entropy_scale(0.15),
        observation_norm=False,
    )
    cfg = resolve_algo("flashsac", cfg, suite_clipped_double_q=False)
    return ALGORITHMS["flashsac"](
        cfg,
        meta["obs"],
        meta["act"],
        discount=meta["gamma"],
        num_critics=2,
        total_updates=meta["total_updates"],
    )


# ------------------------------------------------------------ torch names -> flax paths

_BLOCK = re.compile(r"encoder\.(\d+)\.(w1|w2|norm1|norm2)\.")
_LEAF = {
    "weight": "bn_scale",
    "bias": "bn_bias",
    "running_mean": "mean",
    "running_var": "var",
}


def flax_path(name: str) -> tuple[str, tuple[str, ...]] | None:
    """``(collection, path)`` of a torch state_dict entry; None for the bin support."""
    enc = "FlashSACEncoder_0"
    leaf = name.rsplit(".", 1)[1]
    collection = "batch_stats" if leaf.startswith("running_") else "params"
    kernel = ("hyper", "kernel")
    if name.startswith("embedder.norm."):
        return collection, (enc, "BatchNorm_0", _LEAF[leaf])
    if name.startswith("embedder.w."):
        return collection, (enc, "HyperDense_0", *kernel)
    m = _BLOCK.match(name)
    if m:
        block, part = f"FlashSACBlock_{m[1]}", m[2]
        if part in ("w1", "w2"):
            return collection, (enc, block, f"HyperDense_{int(part[1]) - 1}", *kernel)
        return collection, (enc, block, f"BatchNorm_{int(part[4]) - 1}", _LEAF[leaf])
    if name == "post_norm.weight":
        return collection, (enc, "RMSNorm_0", "rms_scale")
    heads = {"mean_w": "mean", "std_w": "log_std", "w": "value"}
    parts = name.split(".")
    if parts[0] == "predictor":
        if parts[1] in heads:
            return collection, (heads[parts[1]], "HyperDense_0", *kernel)
        bias_of = {"mean_bias": "mean", "std_bias": "log_std", "bias": "value"}
        if parts[1] in bias_of:
            return collection, (bias_of[parts[1]], "bias")
        if parts[1] == "bin_values":
            return None
    raise KeyError(name)


def torch_arrays(fx, prefix: str) -> dict[str, np.ndarray]:
    return {k[len(prefix) + 1 :]: v for k, v in fx.items() if k.startswith(prefix + "/")}


def to_variables(arrays: dict[str, np.ndarray], template):
    """The template's variables with every entry of a torch state_dict put in place
    (linear weights ``[..., out, in]`` -> kernels ``[..., in, out]``); every leaf of the
    template must be set exactly once."""
    out = jax.tree.map(np.asarray, template)
    seen = set()
    for name, value in arrays.items():
        where = flax_path(name)
        if where is None:
            continue
        collection, path = where
        node = out[collection]
        for p in path[:-1]:
            node = node[p]
        if path[-1] == "kernel":
            value = np.swapaxes(value, -1, -2)
        assert node[path[-1]].shape == value.shape, (name, node[path[-1]].shape, value.shape)
        node[path[-1]] = np.asarray(value, np.float32)
        seen.add((collection, *path))
    leaves = jax.tree_util.tree_flatten_with_path(template)[0]
    assert len(seen) == len(leaves), "every flax leaf comes from one torch entry"
    return jax.tree.map(jnp.asarray, out)


def load_state(agent, fx, prefix: str, state):
    return state.replace(
        actor=to_variables(torch_arrays(fx, f"{prefix}/actor"), state.actor),
        critic=to_variables(torch_arrays(fx, f"{prefix}/critic"), state.critic),
        target_critic=to_variables(torch_arrays(fx, f"{prefix}/target"), state.target_critic),
        log_temp=jnp.asarray(fx[f"{prefix}/log_temp"][0]),
    )


@pytest.fixture(scope="module")
def initial(agent, fx):
    return load_state(agent, fx, "init", agent.init(jax.random.PRNGKey(0)))


def close(got, want, name, rtol=2e-4, atol=2e-6):
    np.testing.assert_allclose(
        np.asarray(got), np.asarray(want), rtol=rtol, atol=atol, err_msg=name
    )


def assert_variables(got, fx, prefix: str, **tol):
    want = to_variables(torch_arrays(fx, prefix), got)
    for (path, g), w in zip(
        jax.tree_util.tree_flatten_with_path(got)[0], jax.tree.leaves(want), strict=True
    ):
        close(g, w, f"{prefix} {jax.tree_util.keystr(path)}", **tol)


def with_noise(agent, draws: dict[int, np.ndarray]):
    """The agent drawing the fixture's standard normals (keyed by their row count; a
    skipped actor step is still traced by ``lax.cond``: zeros for it)."""
    twin = agent.with_hyper({})
    twin.noise = lambda key, shape: jnp.asarray(draws.get(shape[0], np.zeros(shape, np.float32)))
    return twin


def batch_of(fx, k: int) -> Batch:
    b = lambda name: jnp.asarray(fx[f"u{k}/batch/{name}"])
    return Batch(
        obs=b("observation"),
        action=b("action"),
        reward=b("reward"),
        next_obs=b("next_observation"),
        terminated=b("terminated"),
    )


def draws_of(fx, k: int, batch: int) -> dict[int, np.ndarray]:
    out = {batch: fx[f"u{k}/noise/critic"]}
    if f"u{k}/noise/actor" in fx:
        out[2 * batch] = fx[f"u{k}/noise/actor"]
    return out


# ------------------------------------------------------------ tests


def test_weight_import_covers_every_parameter(agent, fx, initial):
    for name in ("actor", "critic"):
        arrays = torch_arrays(fx, f"init/{name}")
        torch_params = sum(
            v.size for k, v in arrays.items() if "running_" not in k and "bin_values" not in k
        )
        flax_params = sum(x.size for x in jax.tree.leaves(getattr(initial, name)["params"]))
        assert torch_params == flax_params
    # the official init is projected: unit kernel rows, BN [gamma; beta] of norm sqrt(d)
    assert_variables(agent.project(initial.actor), fx, "init/actor", rtol=1e-6, atol=1e-7)
    assert_variables(agent.project(initial.critic), fx, "init/critic", rtol=1e-6, atol=1e-7)


@pytest.mark.parametrize("mode", ["train", "eval"])
def test_forward_outputs_and_running_statistics(agent, fx, initial, mode):
    obs, act = jnp.asarray(fx["fwd/obs"]), jnp.asarray(fx["fwd/action"])
    train = mode == "train"
    (mean, log_std), new_actor = agent.actor_net.apply(
        initial.actor, obs, train=train, mutable=["batch_stats"]
    )
    close(mean, fx[f"fwd/{mode}/mean"], "actor mean")
    close(jnp.exp(log_std), fx[f"fwd/{mode}/std"], "actor std")
    out = agent.critic_net.apply(initial.critic, obs, act, train=train)
    logits, critic_stats = out if train else (out, initial.critic["batch_stats"])
    log_p = jax.nn.log_softmax(logits, axis=-1)
    close(log_p, fx[f"fwd/{mode}/log_prob"], "critic log-probabilities", atol=1e-5)
    q = jnp.sum(jnp.exp(log_p) * agent.bins, axis=-1)
    close(q, fx[f"fwd/{mode}/q"], "critic Q", atol=1e-5)
    for name, stats in [("actor", new_actor["batch_stats"]), ("critic", critic_stats)]:
        want = torch_arrays(fx, f"fwd/{mode}/{name}_after")
        got = {"params": getattr(initial, name)["params"], "batch_stats": stats}
        full = {**torch_arrays(fx, f"init/{name}"), **want}
        assert_variables(got, {f"x/{k}": v for k, v in full.items()}, "x", atol=1e-6)


def test_first_update_gradients(agent, fx, initial, meta):
    batch, b = batch_of(fx, 0), meta["batch"]
    twin = with_noise(agent, draws_of(fx, 0, b))
    key = jax.random.PRNGKey(0)
    actor_grads, (entropy, _, metrics) = jax.grad(twin.actor_loss, has_aux=True)(
        initial.actor["params"],
        stats=initial.actor["batch_stats"],
        critic=initial.critic,
        log_temp=initial.log_temp,
        obs=batch.obs,
        next_obs=batch.next_obs,
        key=key,
    )
    close(metrics["actor/loss"], fx["u0/metric/actor/loss"], "actor loss")
    params = {"params": initial.actor["params"]}
    want = to_variables(torch_arrays(fx, "u0/grad/actor"), params)["params"]
    for (path, g), w in zip(
        jax.tree_util.tree_flatten_with_path(actor_grads)[0], jax.tree.leaves(want), strict=True
    ):
        close(g, w, f"actor grad {jax.tree_util.keystr(path)}", rtol=1e-3, atol=2e-5)
    temp_grad, _ = jax.grad(twin.temperature_loss, has_aux=True)(initial.log_temp, entropy=entropy)
    close(temp_grad, fx["u0/grad/log_temp"][0], "temperature grad")

    (actor, _, log_temp, _), _, _ = twin.policy_step(initial, batch, key)
    critic_grads, _ = jax.grad(twin.critic_loss, has_aux=True)(
        initial.critic["params"],
        stats=initial.critic["batch_stats"],
        target_critic=initial.target_critic,
        actor=actor,
        log_temp=log_temp,
        batch=batch,
        key=key,
    )
    params = {"params": initial.critic["params"]}
    want = to_variables(torch_arrays(fx, "u0/grad/critic"), params)["params"]
    for (path, g), w in zip(
        jax.tree_util.tree_flatten_with_path(critic_grads)[0], jax.tree.leaves(want), strict=True
    ):
        close(g, w, f"critic grad {jax.tree_util.keystr(path)}", rtol=1e-3, atol=2e-5)


METRICS = {
    "actor/loss": "actor/loss",
    "actor/entropy": "actor/entropy",
    "actor/mean_action": "actor/mean_action",
    "temperature/value": "temperature/value",
    "temperature/loss": "temperature/loss",
    "critic/loss": "critic/loss",
    "critic/max_entropy_bonus": "critic/max_entropy_bonus",
}


def schedule_count(opt_state) -> int:
    is_schedule = lambda x: isinstance(x, optax.ScaleByScheduleState)
    counts = [s.count for s in jax.tree.leaves(opt_state, is_leaf=is_schedule) if is_schedule(s)]
    return int(counts[0])


def test_three_updates_equal_the_official(agent, fx, initial, meta):
    """Update 0 and 2 step the actor and temperature, update 1 does not; after each, every
    weight, BatchNorm buffer (the target's too), alpha, metric and learning rate agrees."""
    state = initial
    schedule = cosine_lr_schedule(3e-4, 1.5e-4, meta["total_updates"])
    for k in range(meta["updates"]):
        twin = with_noise(agent, draws_of(fx, k, meta["batch"]))
        state, metrics = jax.jit(twin.update)(state, batch_of(fx, k))
        assert float(metrics["actor/ran"]) == float(k % 2 == 0)
        for ours, theirs in METRICS.items():
            if f"u{k}/metric/{theirs}" in fx:
                close(metrics[ours], fx[f"u{k}/metric/{theirs}"], f"update {k} {ours}")
        assert_variables(state.actor, fx, f"u{k}/actor")
        assert_variables(state.critic, fx, f"u{k}/critic")
        assert_variables(state.target_critic, fx, f"u{k}/target")
        close(state.log_temp, fx[f"u{k}/log_temp"][0], f"update {k} log alpha", atol=1e-7)
        # the learning rate each optimizer takes next: the actor's schedule at half rate
        assert schedule_count(state.actor_opt) == k // 2 + 1
        assert schedule_count(state.critic_opt) == k + 1
        close(schedule(schedule_count(state.actor_opt)), fx[f"u{k}/lr/actor"], "actor lr")
        close(schedule(schedule_count(state.critic_opt)), fx[f"u{k}/lr/critic"], "critic lr")


def test_reward_normalizer_sequence(fx):
    """FlashSAC's return statistics (count from 0, its 1e-4 quirk) in float64."""
    reward, probe = fx["rn/reward"].astype(np.float64), fx["rn/probe"].astype(np.float64)
    done = (fx["rn/terminated"] | fx["rn/truncated"]).astype(np.float64)
    s = init_reward_scaler(reward.shape[1], merge="flashsac")
    for t in range(len(reward)):
        s = update_reward_scaler(s, reward[t], done[t], 0.99)
        close(probe / reward_scale(s, 5.0), fx["rn/scaled"][t], f"step {t}", rtol=1e-5)
    close(s.returns, fx["rn/G"], "G", rtol=1e-5)
    close(s.g_abs_max, fx["rn/G_max"][0], "max |G|", rtol=1e-6)
    close(s.stats.mean, fx["rn/mean"][0], "mean", rtol=1e-5)
    close(s.stats.var, fx["rn/var"][0], "var", rtol=1e-5)
    assert float(s.stats.count) == float(fx["rn/count"])
    # simbarl's default merge (count from 1e-4) is close but not the same sequence
    d = init_reward_scaler(reward.shape[1])
    d = update_reward_scaler(d, reward[0], done[0], 0.99)
    first = init_reward_scaler(reward.shape[1], merge="flashsac")
    first = update_reward_scaler(first, reward[0], done[0], 0.99)
    assert first.stats.mean == pytest.approx(reward[0].mean(), rel=1e-12)
    assert d.stats.mean != first.stats.mean
