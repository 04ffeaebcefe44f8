"""bfloat16 matmuls (``--agent.matmul-dtype bfloat16``): float32 in, float32 out,
bfloat16 products in the forward and in both gradient products; nothing else changes."""

from __future__ import annotations

import dataclasses

import jax
import jax.extend.core
import jax.numpy as jnp
import numpy as np
import pytest

from simbarl.agents.sac import SAC, Batch
from simbarl.agents.td3 import TD3
from simbarl.config import (
    AgentConfig,
    NetworkConfig,
    apply_overrides,
    config_from_dict,
    config_to_dict,
    preset,
    validate,
)
from simbarl.networks.precision import bf16_matmul, dot_general

OBS_DIM, ACT_DIM, BATCH = 3, 2, 16


def _rand(seed, shape):
    return jax.random.normal(jax.random.PRNGKey(seed), shape, jnp.float32)


def _rel(a, b) -> float:
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    return float(np.linalg.norm(a - b) / np.linalg.norm(b))


@pytest.mark.parametrize("lead", [(16,), (4, 8)])
def test_bf16_matmul_forward_and_gradients_match_float32(lead):
    x, w, c = _rand(0, (*lead, 24)), _rand(1, (24, 40)), _rand(2, (*lead, 40))
    loss = lambda f: lambda x, w: jnp.sum(jnp.tanh(f(x, w)) * c)
    ref = jax.value_and_grad(loss(jnp.matmul), argnums=(0, 1))(x, w)
    got = jax.value_and_grad(loss(bf16_matmul), argnums=(0, 1))(x, w)
    (v_ref, (dx_ref, dw_ref)), (v, (dx, dw)) = ref, got
    assert bf16_matmul(x, w).dtype == dx.dtype == dw.dtype == jnp.float32
    assert dx.shape == x.shape and dw.shape == w.shape
    # bfloat16 keeps 8 bits of mantissa: about 0.4% per operand
    assert abs(float(v) - float(v_ref)) <= 0.02 * abs(float(v_ref)) + 0.05
    assert _rel(dx, dx_ref) < 0.02 and _rel(dw, dw_ref) < 0.02
    assert _rel(dx, dx_ref) > 0  # it really ran in bfloat16


def test_bf16_matmul_products_are_bfloat16_in_every_pass():
    x, w = _rand(0, (16, 24)), _rand(1, (24, 40))
    grad = jax.grad(lambda x, w: jnp.sum(bf16_matmul(x, w) ** 2), argnums=(0, 1))
    dots = _dots(jax.make_jaxpr(grad)(x, w).jaxpr)
    assert len(dots) == 3  # forward, input gradient, weight gradient
    assert all(ins == ["bfloat16", "bfloat16"] and out == "float32" for ins, out in dots)


def _dots(jaxpr) -> list[tuple[list[str], str]]:
    """``(operand dtypes, result dtype)`` of every matmul in a jaxpr, nested ones too."""
    found = []
    for eqn in jaxpr.eqns:
        if eqn.primitive.name == "dot_general":
            ins = [str(v.aval.dtype) for v in eqn.invars]
            found.append((ins, str(eqn.outvars[0].aval.dtype)))
        for sub in jax.extend.core.jaxprs_in_params(eqn.params):
            found += _dots(sub)
    return found


def test_unknown_matmul_dtype_is_refused_with_the_choices():
    assert dot_general("float32") is None
    with pytest.raises(ValueError, match="float32, bfloat16"):
        dot_general("float16")
    batched = (((2,), (1,)), ((0,), (0,)))  # not a Dense layer's x @ kernel
    with pytest.raises(NotImplementedError, match="x @ kernel only"):
        dot_general("bfloat16")(_rand(0, (2, 4, 3)), _rand(1, (2, 3, 5)), batched)


def _batch(seed: int) -> Batch:
    rng = np.random.default_rng(seed)
    f = lambda *s: jnp.asarray(rng.normal(size=(1, BATCH, *s)), jnp.float32)
    return Batch(
        obs=f(OBS_DIM),
        action=jnp.tanh(f(ACT_DIM)),
        reward=f(),
        next_obs=f(OBS_DIM),
        terminated=jnp.zeros((1, BATCH), jnp.float32),
    )


@pytest.mark.parametrize(
    ("algo", "encoder"), [(SAC, "simbav2"), (SAC, "simba"), (TD3, "mlp")], ids=str
)
def test_a_bfloat16_agent_learns_in_float32_state_like_the_float32_one(algo, encoder):
    """Same init (the dtype only changes how matmuls run), float32 parameters and
    optimizer state after an update, and losses within bfloat16 rounding of float32's."""
    cfg = AgentConfig(
        actor=NetworkConfig(encoder, 16, 1),
        critic=NetworkConfig(encoder, 32, 1),
        critic_type="categorical" if encoder == "simbav2" else "scalar",
        weight_projection=encoder == "simbav2",
        policy_noise=0.2,
    )
    make = lambda c: algo(c, OBS_DIM, ACT_DIM, discount=0.99, num_critics=2, total_updates=10)
    f32 = make(cfg)
    bf16 = make(dataclasses.replace(cfg, matmul_dtype="bfloat16"))
    s32, s16 = f32.init(jax.random.PRNGKey(0)), bf16.init(jax.random.PRNGKey(0))
    same = jax.tree.map(lambda a, b: bool(jnp.array_equal(a, b)), s32.critic, s16.critic)
    assert all(jax.tree.leaves(same))
    dots16 = _dots(jax.make_jaxpr(bf16.learn)(s16, _batch(0)).jaxpr)
    dots32 = _dots(jax.make_jaxpr(f32.learn)(s32, _batch(0)).jaxpr)
    assert len(dots16) >= len(dots32) > 0  # every float32 matmul has a bfloat16 twin
    assert all(ins == ["bfloat16", "bfloat16"] and out == "float32" for ins, out in dots16)
    assert all(ins == ["float32", "float32"] for ins, _ in dots32)
    s32, m32 = f32.update_many(s32, _batch(1))
    s16, m16 = bf16.update_many(s16, _batch(1))
    for leaf in jax.tree.leaves((s16.actor, s16.critic, s16.critic_opt, s16.target_critic)):
        assert leaf.dtype in (jnp.float32, jnp.int32), leaf.dtype
        assert bool(jnp.all(jnp.isfinite(leaf)))
    loss32, loss16 = float(m32["critic/loss"]), float(m16["critic/loss"])
    assert abs(loss16 - loss32) <= 0.03 * abs(loss32) + 1e-3
    assert loss16 != loss32


def test_matmul_dtype_is_a_validated_config_field():
    base = config_to_dict(preset("simbav2-small"))
    cfg = config_from_dict(apply_overrides(base, ["agent.matmul-dtype=bfloat16"]))
    assert cfg.agent.matmul_dtype == "bfloat16" and base["agent"]["matmul_dtype"] == "float32"
    validate(cfg)
    bad = config_from_dict(apply_overrides(base, ["agent.matmul_dtype=float16"]))
    with pytest.raises(ValueError, match="matmul-dtype must be one of float32, bfloat16"):
        validate(bad)
