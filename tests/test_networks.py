"""Network building blocks: Scaler, HyperEmbedder, SimbaV2 encoder, heads, projection.

Each check is against the SimbaV2 spec (NOTES.md, "SimbaV2 encoder"). On CPU
the cost is compiling each eager op once per shape, so every test uses the
same few shapes (those of tests/test_learner.py: obs 3, action 2, actor width
16, critic width 32, 101 bins, batch 16) and builds on module-scoped params.
"""

from __future__ import annotations

import math
from types import SimpleNamespace

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from simbarl.agents.common import is_hyper_kernel, project
from simbarl.config import NetworkConfig
from simbarl.networks.heads import Critic, CriticEnsemble, TanhGaussianActor
from simbarl.networks.simbav2 import HyperEmbedder, Scaler, SimbaV2Encoder

OBS_DIM, ACT_DIM, BATCH, BINS = 3, 2, 16, 101
ACTOR_NET = NetworkConfig("simbav2", 16, 1)
CRITIC_NET = NetworkConfig("simbav2", 32, 1)


def _rand(seed: int, shape, scale: float = 1.0) -> jnp.ndarray:
    return scale * jax.random.normal(jax.random.PRNGKey(seed), shape, jnp.float32)


def _row_norms(x) -> np.ndarray:
    return np.linalg.norm(np.asarray(x, np.float64), axis=-1)


def _path_str(path) -> str:
    return "/".join(str(getattr(p, "key", getattr(p, "name", p))) for p in path)


def _scaler_calls(fn) -> dict[str, dict]:
    """Every Scaler called while running ``fn()``: path -> attributes, input, output."""
    calls: dict[str, dict] = {}

    def interceptor(next_fun, args, kwargs, context):
        out = next_fun(*args, **kwargs)
        mod = context.module
        if isinstance(mod, Scaler) and context.method_name == "__call__":
            calls["/".join(mod.scope.path)] = {
                "init": mod.init_value,
                "scale": mod.scale,
                "dim": mod.dim,
                "x": args[0],
                "y": out,
            }
        return out

    with nn.intercept_methods(interceptor):
        fn()
    return calls


def _hyper_kernels(params) -> dict[str, np.ndarray]:
    leaves = jax.tree_util.tree_flatten_with_path(params)[0]
    return {_path_str(p): np.asarray(w) for p, w in leaves if is_hyper_kernel(p)}


def _copy(tree):
    return jax.tree.map(jnp.copy, tree)


@pytest.fixture(scope="module")
def nets():
    """Actor and two-critic ensemble, initialized as ``SAC.init`` does (batch of one)."""
    obs1, act1 = jnp.zeros((1, OBS_DIM)), jnp.zeros((1, ACT_DIM))
    actor = TanhGaussianActor(ACTOR_NET, ACT_DIM)
    critic = CriticEnsemble(CRITIC_NET, BINS, 2)
    return SimpleNamespace(
        actor=actor,
        actor_params=actor.init(jax.random.PRNGKey(0), obs1),
        critic=critic,
        critic_params=critic.init(jax.random.PRNGKey(1), obs1, act1),
        obs=_rand(3, (BATCH, OBS_DIM)),
        act=jnp.tanh(_rand(4, (BATCH, ACT_DIM))),
    )


# ---------------------------------------------------------------- Scaler


@pytest.mark.parametrize(
    "init,scale", [(1.0, 1.0), (0.125, 0.125), (0.5, 0.0625), (2.0, 0.1), (1 / 3, 1 / 8)]
)
def test_scaler_param_forward_and_gradient(init, scale):
    d = 16
    mod = Scaler(d, init, scale)
    x = _rand(0, (d,), 3.0)
    params = mod.init(jax.random.PRNGKey(1), x)
    stored = np.asarray(params["params"]["scaler"])
    np.testing.assert_allclose(stored, scale * np.ones(d), rtol=1e-7)

    out = mod.apply(params, x)
    np.testing.assert_allclose(np.asarray(out), init * np.asarray(x), rtol=1e-6, atol=1e-7)

    # d out_i / d param_j = (init / scale) * x_i * [i == j]
    jac = jax.jacobian(lambda p: mod.apply({"params": {"scaler": p}}, x))(
        params["params"]["scaler"]
    )
    expected = np.diag((init / scale) * np.asarray(x))
    np.testing.assert_allclose(np.asarray(jac), expected, rtol=1e-6, atol=1e-6)


def test_scaler_standalone_init():
    params = Scaler(4, 0.5, 0.25).init(jax.random.PRNGKey(0), jnp.ones(4))
    np.testing.assert_allclose(params["params"]["scaler"], 0.25 * np.ones(4))


# ---------------------------------------------------------- HyperEmbedder


def test_hyper_embedder_unit_norm_and_shift_coordinate():
    x = _rand(0, (BATCH, OBS_DIM), 50.0)
    with_shift = HyperEmbedder(16, 3.0)
    params = with_shift.init(jax.random.PRNGKey(0), x[:1])
    assert params["params"]["HyperDense_0"]["hyper"]["kernel"].shape == (OBS_DIM + 1, 16)
    np.testing.assert_allclose(_row_norms(with_shift.apply(params, x)), 1.0, atol=1e-5)

    no_shift = HyperEmbedder(16, None)
    params_ns = no_shift.init(jax.random.PRNGKey(0), x[:1])
    assert params_ns["params"]["HyperDense_0"]["hyper"]["kernel"].shape == (OBS_DIM, 16)
    np.testing.assert_allclose(_row_norms(no_shift.apply(params_ns, x)), 1.0, atol=1e-5)


def test_hyper_embedder_shift_preserves_magnitude():
    x = _rand(1, (BATCH, OBS_DIM))
    scaled = 4.0 * x

    shift = HyperEmbedder(16, 3.0)
    p = shift.init(jax.random.PRNGKey(0), x[:1])
    a, b = np.asarray(shift.apply(p, x)), np.asarray(shift.apply(p, scaled))
    # the constant coordinate makes the direction depend on ||x||: every row differs
    assert np.min(np.abs(a - b).max(axis=-1)) > 1e-3

    plain = HyperEmbedder(16, None)
    p = plain.init(jax.random.PRNGKey(0), x[:1])
    np.testing.assert_allclose(plain.apply(p, x), plain.apply(p, scaled), atol=1e-6)


# -------------------------------------------------------- SimbaV2 encoder


def _expected_scalers(width: int, num_blocks: int) -> dict[str, tuple[float, float, int]]:
    """path -> (init, scale, dim) from NOTES.md."""
    s = math.sqrt(2.0 / width)
    out = {"HyperEmbedder_0/Scaler_0": (s, s, width)}
    for i in range(num_blocks):
        out[f"HyperLERPBlock_{i}/Scaler_0"] = (s / 2, s / 2, 4 * width)
        out[f"HyperLERPBlock_{i}/Scaler_1"] = (1 / (num_blocks + 1), 1 / math.sqrt(width), width)
    return out


@pytest.mark.parametrize("num_blocks", [1, 2, 3])
def test_simbav2_encoder_scalers(num_blocks):
    width = 16
    enc = SimbaV2Encoder(width, num_blocks)
    x = _rand(2, (BATCH, OBS_DIM), 10.0)
    params = enc.init(jax.random.PRNGKey(0), jnp.zeros((1, OBS_DIM)))
    np.testing.assert_allclose(_row_norms(enc.apply(params, x)), 1.0, atol=1e-5)

    expected = _expected_scalers(width, num_blocks)
    p = params["params"]
    for name, (_, scale, dim) in expected.items():
        block, scaler = name.split("/")
        stored = np.asarray(p[block][scaler]["scaler"])
        assert stored.shape == (dim,), name
        np.testing.assert_allclose(stored, scale, rtol=1e-6, err_msg=name)

    calls = _scaler_calls(lambda: enc.apply(params, x))
    assert set(calls) == set(expected)
    for name, (init, _, _) in expected.items():
        c = calls[name]
        # at init the forward multiplier is exactly `init` (stored scale * init / scale)
        np.testing.assert_allclose(c["y"], init * c["x"], rtol=1e-5, atol=1e-7, err_msg=name)


@pytest.mark.parametrize("width,value", [(128, 0.125), (512, 0.0625)])
def test_published_widths_scaler_constants(width, value):
    """Actor 0.125 at d_h=128, critic 0.0625 at d_h=512 (shapes only, nothing computed)."""
    enc = SimbaV2Encoder(width, 2)
    calls = _scaler_calls(lambda: jax.eval_shape(enc.init, jax.random.PRNGKey(0), jnp.ones((1, 4))))
    assert calls["HyperEmbedder_0/Scaler_0"]["init"] == pytest.approx(value)
    assert calls["HyperEmbedder_0/Scaler_0"]["scale"] == pytest.approx(value)
    for i in range(2):
        assert calls[f"HyperLERPBlock_{i}/Scaler_0"]["init"] == pytest.approx(value / 2)
        assert calls[f"HyperLERPBlock_{i}/Scaler_0"]["scale"] == pytest.approx(value / 2)
        assert calls[f"HyperLERPBlock_{i}/Scaler_1"]["init"] == pytest.approx(1 / 3)
        assert calls[f"HyperLERPBlock_{i}/Scaler_1"]["scale"] == pytest.approx(width**-0.5)


# ------------------------------------------------------ weight projection


@pytest.mark.parametrize("which", ["actor", "critic"])
def test_project_unit_norm_columns_only_for_hyper_kernels(nets, which):
    params = nets.actor_params if which == "actor" else nets.critic_params
    projected = project(params)

    kernels = _hyper_kernels(projected)
    # embedder + 2 per block + 2 per head (actor: mean and log-std heads)
    assert len(kernels) == (1 + 2 + 4 if which == "actor" else 1 + 2 + 2)
    for name, w in kernels.items():
        if which == "critic":
            assert w.shape[0] == 2, name  # leading ensemble axis
        norms = np.linalg.norm(w.astype(np.float64), axis=-2)
        np.testing.assert_allclose(norms, 1.0, atol=1e-5, err_msg=name)

    # the init is not unit-norm everywhere (orthogonal init of an in < out kernel),
    # so the projection did something; it keeps each column's direction
    before = _hyper_kernels(params)
    assert any(not np.allclose(np.linalg.norm(w, axis=-2), 1.0, atol=1e-3) for w in before.values())
    for name, w in before.items():
        np.testing.assert_allclose(
            kernels[name], w / np.linalg.norm(w, axis=-2, keepdims=True), rtol=1e-5, atol=1e-6
        )

    after = {_path_str(p): w for p, w in jax.tree_util.tree_flatten_with_path(projected)[0]}
    others = [(p, w) for p, w in jax.tree_util.tree_flatten_with_path(params)[0]]
    others = [(p, w) for p, w in others if not is_hyper_kernel(p)]
    assert any("scaler" in _path_str(p) for p, _ in others)
    assert any("bias" in _path_str(p) for p, _ in others)
    for p, w in others:  # scalers and biases untouched
        np.testing.assert_array_equal(after[_path_str(p)], w)


def test_project_leaves_plain_dense_kernels_alone():
    params = {
        "params": {
            "Dense_0": {"kernel": 3.0 * jnp.ones((4, 5)), "bias": jnp.ones(5)},
            "HyperDense_0": {"hyper": {"kernel": 3.0 * jnp.ones((4, 5))}},
            "hyper": {"bias": 2.0 * jnp.ones(5)},  # not a kernel
        }
    }
    out = project(params)["params"]
    np.testing.assert_array_equal(out["Dense_0"]["kernel"], 3.0)
    np.testing.assert_array_equal(out["Dense_0"]["bias"], 1.0)
    np.testing.assert_array_equal(out["hyper"]["bias"], 2.0)
    np.testing.assert_allclose(out["HyperDense_0"]["hyper"]["kernel"], 0.5, rtol=1e-6)


# ----------------------------------------------------------------- heads


def test_head_biases_start_at_zero(nets):
    p = nets.actor_params["params"]
    for head in ("mean", "log_std"):
        assert p[head]["bias"].shape == (ACT_DIM,)
        np.testing.assert_array_equal(p[head]["bias"], 0.0)
    bias = nets.critic_params["params"]["LinearHead_0"]["bias"]
    assert bias.shape == (2, BINS)
    np.testing.assert_array_equal(bias, 0.0)


def test_actor_log_std_bounded(nets):
    mean, log_std = nets.actor.apply(nets.actor_params, 1e6 * nets.obs)
    assert mean.shape == log_std.shape == (BATCH, ACT_DIM)
    assert np.all((log_std >= -10.0) & (log_std <= 2.0))

    for sign, edge in [(1.0, 2.0), (-1.0, -10.0)]:
        pushed = _copy(nets.actor_params)
        head = pushed["params"]["log_std"]
        head["bias"] = sign * 1e4 * jnp.ones(ACT_DIM)
        head["Scaler_0"]["scaler"] = 1e3 * head["Scaler_0"]["scaler"]
        _, ls = nets.actor.apply(pushed, 1e6 * nets.obs)
        ls = np.asarray(ls)
        assert np.all(np.isfinite(ls))
        assert np.all((ls >= -10.0) & (ls <= 2.0))
        np.testing.assert_allclose(ls, edge, atol=1e-5)

    # a custom range: raw logits spread far both ways still land inside it
    actor = TanhGaussianActor(ACTOR_NET, ACT_DIM, 3.0, -5.0, 1.0)
    wide = _copy(nets.actor_params)
    wide["params"]["log_std"]["Scaler_0"]["scaler"] = 1e4 * jnp.ones(16)
    _, ls = actor.apply(wide, nets.obs)
    ls = np.asarray(ls)
    assert np.all((ls >= -5.0) & (ls <= 1.0))
    assert ls.max() > 0.9 and ls.min() < -4.9  # both ends reached


@pytest.mark.parametrize("num_critics", [1, 2])
@pytest.mark.parametrize("num_bins", [1, BINS])
def test_critic_ensemble_output_shapes(num_critics, num_bins):
    critic = CriticEnsemble(CRITIC_NET, num_bins, num_critics)
    obs, act = jnp.zeros((BATCH, OBS_DIM)), jnp.zeros((BATCH, ACT_DIM))

    def build_and_apply(key):
        params = critic.init(key, obs[:1], act[:1])
        return params, critic.apply(params, obs, act)

    params, out = jax.eval_shape(build_and_apply, jax.random.PRNGKey(0))
    expected = (num_critics, BATCH) if num_bins == 1 else (num_critics, BATCH, num_bins)
    assert out.shape == expected
    assert all(leaf.shape[0] == num_critics for leaf in jax.tree.leaves(params))


def test_critic_ensemble_independent_and_single_path(nets):
    out = np.asarray(nets.critic.apply(nets.critic_params, nets.obs, nets.act))
    assert out.shape == (2, BATCH, BINS)
    assert np.all(np.isfinite(out))
    # independent init: different weights and different outputs
    assert np.abs(out[0] - out[1]).max() > 1e-3
    for name, w in _hyper_kernels(nets.critic_params).items():
        assert not np.allclose(w[0], w[1]), name

    # the unbatched single-critic path computes the same function
    single = CriticEnsemble(CRITIC_NET, BINS, 1)
    for i in range(2):
        one = jax.tree.map(lambda x, i=i: x[i : i + 1], nets.critic_params)
        got = np.asarray(single.apply(one, nets.obs, nets.act))
        assert got.shape == (1, BATCH, BINS)
        np.testing.assert_allclose(got[0], out[i], rtol=1e-5, atol=1e-5)


def test_scalar_critic_ensemble_values():
    critic = CriticEnsemble(CRITIC_NET, 1, 2)
    obs, act = _rand(5, (BATCH, OBS_DIM)), jnp.tanh(_rand(6, (BATCH, ACT_DIM)))
    params = critic.init(jax.random.PRNGKey(2), obs[:1], act[:1])
    out = np.asarray(critic.apply(params, obs, act))
    assert out.shape == (2, BATCH)
    assert np.all(np.isfinite(out))
    assert np.abs(out[0] - out[1]).max() > 1e-4


@pytest.mark.parametrize("encoder", ["simbav2", "simba", "mlp"])
def test_encoders_build_and_are_finite(encoder, nets):
    net = NetworkConfig(encoder, 16, 1)
    actor = TanhGaussianActor(net, ACT_DIM)
    critic = Critic(net, BINS)  # what CriticEnsemble vmaps; ensembles are tested above
    obs1, act1 = jnp.zeros((1, OBS_DIM)), jnp.zeros((1, ACT_DIM))
    # eager on purpose: with jax 0.10.2 on CPU, jitting init + apply of these modules
    # after the same modules were initialized eagerly in the process hung forever
    a_params = actor.init(jax.random.PRNGKey(0), obs1)
    c_params = critic.init(jax.random.PRNGKey(1), obs1, act1)
    mean, log_std = actor.apply(a_params, 100.0 * nets.obs)
    q = critic.apply(c_params, 100.0 * nets.obs, nets.act)
    assert mean.shape == log_std.shape == (BATCH, ACT_DIM)
    assert q.shape == (BATCH, BINS)
    for x in (mean, log_std, q):
        assert np.all(np.isfinite(np.asarray(x)))
    assert np.all((np.asarray(log_std) >= -10.0) & (np.asarray(log_std) <= 2.0))
    assert bool(_hyper_kernels(a_params)) == (encoder == "simbav2")
    assert bool(_hyper_kernels(c_params)) == (encoder == "simbav2")


def test_unknown_encoder_rejected():
    actor = TanhGaussianActor(NetworkConfig("resnet", 8, 1), ACT_DIM)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="unknown encoder"):
        jax.eval_shape(actor.init, jax.random.PRNGKey(0), jnp.zeros((1, OBS_DIM)))
