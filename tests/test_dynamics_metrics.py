"""Training-dynamics metrics against plain numpy on fixed weights and crafted inputs."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from simbarl.analysis import metrics as M
from simbarl.config import NetworkConfig
from simbarl.networks.heads import Critic
from simbarl.networks.probe import PROBE


def _tree():
    rng = np.random.default_rng(0)
    return {
        "params": {
            "SimbaV2Encoder_0": {
                "HyperEmbedder_0": {
                    "HyperDense_0": {"hyper": {"kernel": rng.normal(size=(4, 3))}},
                    "Scaler_0": {"scaler": rng.normal(size=(3,))},
                },
            },
            "LinearHead_0": {
                "bias": rng.normal(size=(2,)),
                "Dense_0": {"kernel": rng.normal(size=(3, 2))},
            },
        }
    }


def test_names_follow_the_layers():
    names = set(M.named_leaves(_tree()))
    assert names == {
        "encoder.embed.dense0.kernel",
        "encoder.embed.scaler0.scaler",
        "head0.bias",
        "head0.dense0.kernel",
    }


def test_norms_effective_lr_and_step_match_numpy():
    w = _tree()
    rng = np.random.default_rng(1)
    g = jax.tree.map(lambda x: rng.normal(size=x.shape), w)
    w1 = jax.tree.map(lambda x, d: x + 0.01 * d, w, g)
    out = M.optimization_metrics(w, g, w1)
    lw, lg = M.named_leaves(w), M.named_leaves(g)
    n = {k: v.size for k, v in lw.items()}
    nw = {k: np.linalg.norm(v) for k, v in lw.items()}
    ng = {k: np.linalg.norm(v) for k, v in lg.items()}
    kernels = [k for k in lw if k.endswith("kernel")]
    others = [k for k in lw if k not in kernels]

    def wnorm(d, keys):
        return np.sqrt(sum(n[k] * d[k] ** 2 for k in keys) / sum(n[k] for k in keys))

    def wmean(d, keys):
        return sum(n[k] * d[k] for k in keys) / sum(n[k] for k in keys)

    elr = {k: ng[k] / nw[k] for k in lw}
    step = {k: 0.01 * ng[k] / nw[k] for k in lw}
    encoder = [k for k in lw if k.startswith("encoder.")]
    predictor = [k for k in lw if k.startswith("head0.")]
    groups = {"total": list(lw), "kernels": kernels, "others": others}
    groups.update(encoder=encoder, predictor=predictor)  # the paper's Appendix G split
    assert len(encoder) == 2 and len(predictor) == 2
    for group, keys in groups.items():
        np.testing.assert_allclose(out[f"param_norm/{group}"], wnorm(nw, keys), rtol=1e-5)
        np.testing.assert_allclose(out[f"grad_norm/{group}"], wnorm(ng, keys), rtol=1e-5)
        np.testing.assert_allclose(out[f"elr/{group}"], wmean(elr, keys), rtol=1e-5)
        np.testing.assert_allclose(out[f"step/{group}"], wmean(step, keys), rtol=1e-4)
    k = "encoder.embed.dense0.kernel"
    np.testing.assert_allclose(out["param_norm/encoder.embed.dense0"], nw[k], rtol=1e-5)
    np.testing.assert_allclose(out["elr/encoder.embed.dense0"], ng[k] / nw[k], rtol=1e-5)
    assert "param_norm/head0" not in out and "param_norm/head0.dense0" in out  # kernels only


def test_dormant_ratio_on_a_crafted_layer():
    # unit scores (batch mean of |a|): 0, 0.05, 1, 2.95; their mean is 1, so the
    # normalized scores are the same numbers: dormant at tau 0: one unit, at 0.1: two.
    a = np.array([[0.0, -0.05, 1.5, 2.95], [0.0, 0.05, 0.5, 2.95]], np.float32)
    scores = np.abs(a).mean(0) / np.abs(a).mean(0).mean()
    for tau, expected in ((0.0, 0.25), (0.1, 0.5)):
        assert np.mean(scores <= tau) == expected  # the numpy definition
        np.testing.assert_allclose(M.dormant_ratio(jnp.asarray(a), tau), expected)
    a[:, 1] *= 4  # score 0.2 / 1.15 = 0.17: no longer dormant at 0.1
    np.testing.assert_allclose(M.dormant_ratio(jnp.asarray(a), 0.1), 0.25)


@pytest.mark.parametrize("rank", [1, 3, 5])
def test_ranks_of_matrices_of_known_rank(rank):
    rng = np.random.default_rng(rank)
    q1, _ = np.linalg.qr(rng.normal(size=(64, 8)))
    q2, _ = np.linalg.qr(rng.normal(size=(8, 8)))
    s = np.zeros(8)
    s[:rank] = 1.0  # equal singular values: srank = effective rank = rank
    x = (q1 * s) @ q2.T
    assert int(M.srank(jnp.asarray(x, jnp.float32))) == rank
    np.testing.assert_allclose(M.effective_rank(jnp.asarray(x, jnp.float32)), rank, rtol=1e-3)


def test_srank_and_effective_rank_match_numpy():
    rng = np.random.default_rng(7)
    x = rng.normal(size=(32, 6)) * np.array([10, 5, 1, 0.1, 0.01, 0.001])
    s = np.linalg.svd(x, compute_uv=False)
    expected_srank = int(np.argmax(np.cumsum(s) / s.sum() >= 0.99)) + 1
    p = s / s.sum()
    assert int(M.srank(jnp.asarray(x, jnp.float32))) == expected_srank
    np.testing.assert_allclose(
        M.effective_rank(jnp.asarray(x, jnp.float32)), np.exp(-(p * np.log(p)).sum()), rtol=1e-4
    )


@pytest.mark.parametrize("encoder", ["simbav2", "simba", "mlp"])
def test_activation_metrics_of_each_encoder(encoder):
    net = Critic(NetworkConfig(encoder, 16, 2), 1, 3.0 if encoder == "simbav2" else None)
    obs, act = jnp.ones((8, 3)) * jnp.arange(8)[:, None], jnp.zeros((8, 1))
    params = net.init(jax.random.PRNGKey(0), obs, act)
    plain = net.apply(params, obs, act)
    out, probed = net.apply(params, obs, act, mutable=[PROBE])
    np.testing.assert_array_equal(plain, out)  # probing computes the same outputs
    m = M.activation_metrics(probed[PROBE])
    layers = {"simbav2": ["embed", "block0", "block1"], "simba": ["embed", "block0", "block1"]}
    for layer in layers.get(encoder, ["layer0", "layer1"]):
        assert f"feature_norm/{layer}" in m
    if encoder == "simbav2":  # unit norm after every l2-normalization
        for layer in ("embed", "block0", "block1"):
            np.testing.assert_allclose(m[f"feature_norm/{layer}"], 1.0, rtol=1e-5)
            assert f"feature_norm/{layer}.pre_norm" in m
        np.testing.assert_allclose(m["feature_norm/total"], 3.0, rtol=1e-5)
    for t in ("0", "0.1"):
        assert 0.0 <= float(m[f"dormant/tau{t}/total"]) <= 1.0
    assert 1 <= float(m["rank/srank"]) <= 8 and 1.0 <= float(m["rank/effective"]) <= 8.0
    # feature norm by hand on the sown features
    kind_layer = [(k, layer, x) for k, layer, x in M._probed(probed[PROBE]) if k == "feature"]
    _, layer, x = kind_layer[0]
    np.testing.assert_allclose(
        m[f"feature_norm/{layer}"], np.linalg.norm(np.asarray(x), axis=1).mean(), rtol=1e-5
    )
