"""Output heads shared by every encoder, and the actor/critic modules.

With the SimbaV2 encoder a head is ``W2 (s * W1 z) + b`` (two HyperDense
layers, a Scaler of init = scale = 1, a zero-initialized bias, no
nonlinearity); with SimBa/MLP encoders it is one plain Dense layer.
"""

from __future__ import annotations

import flax.linen as nn
import jax
import jax.numpy as jnp

from simbarl.config import NetworkConfig
from simbarl.networks.mlp import MLPEncoder
from simbarl.networks.precision import dot_general
from simbarl.networks.simba import SimbaEncoder
from simbarl.networks.simbav2 import HyperDense, Scaler, SimbaV2Encoder


def make_encoder(
    cfg: NetworkConfig, c_shift: float | None, matmul_dtype: str = "float32"
) -> nn.Module:
    if cfg.encoder == "simbav2":
        return SimbaV2Encoder(cfg.width, cfg.num_blocks, c_shift, matmul_dtype)
    if cfg.encoder == "simba":
        return SimbaEncoder(cfg.width, cfg.num_blocks, matmul_dtype)
    if cfg.encoder == "mlp":
        return MLPEncoder(cfg.width, cfg.num_blocks, matmul_dtype)
    raise ValueError(f"unknown encoder {cfg.encoder!r}; choose simbav2, simba or mlp")


class LinearHead(nn.Module):
    """``out`` outputs; hyperspherical two-layer form when ``hyper``."""

    out: int
    hyper: bool
    width: int = 0
    matmul_dtype: str = "float32"  # see simbarl.networks.precision

    @nn.compact
    def __call__(self, z: jnp.ndarray) -> jnp.ndarray:
        if not self.hyper:
            init = nn.initializers.orthogonal(1.0)
            dot = dot_general(self.matmul_dtype)
            return nn.Dense(self.out, kernel_init=init, dot_general=dot)(z)
        z = Scaler(self.width, 1.0, 1.0)(HyperDense(self.width, self.matmul_dtype)(z))
        bias = self.param("bias", nn.initializers.zeros, (self.out,))
        return HyperDense(self.out, self.matmul_dtype)(z) + bias


class TanhGaussianActor(nn.Module):
    """Returns the Gaussian's ``(mean, log_std)`` before the tanh squash.

    ``log_std = min + (max - min) * 0.5 * (1 + tanh(raw))`` (SimbaV2: -10, 2);
    ``raw`` comes from a head on the state, or is one parameter per dimension.
    """

    net: NetworkConfig
    action_dim: int
    c_shift: float | None = 3.0
    log_std_min: float = -10.0
    log_std_max: float = 2.0
    state_dependent_std: bool = True
    matmul_dtype: str = "float32"

    @nn.compact
    def __call__(self, obs: jnp.ndarray) -> tuple[jnp.ndarray, jnp.ndarray]:
        z = make_encoder(self.net, self.c_shift, self.matmul_dtype)(obs)
        hyper, md = self.net.encoder == "simbav2", self.matmul_dtype
        mean = LinearHead(self.action_dim, hyper, self.net.width, md, name="mean")(z)
        if self.state_dependent_std:
            raw = LinearHead(self.action_dim, hyper, self.net.width, md, name="log_std")(z)
        else:  # one free parameter per action dimension
            raw = self.param("log_std", nn.initializers.zeros, (self.action_dim,))
            raw = jnp.broadcast_to(raw, mean.shape)
        span = self.log_std_max - self.log_std_min
        log_std = self.log_std_min + span * 0.5 * (1.0 + jnp.tanh(raw))
        return mean, log_std


class DeterministicActor(nn.Module):
    """``tanh(head(encoder(obs)))``: the policy of TD3 and DDPG."""

    net: NetworkConfig
    action_dim: int
    c_shift: float | None = 3.0
    matmul_dtype: str = "float32"

    @nn.compact
    def __call__(self, obs: jnp.ndarray) -> jnp.ndarray:
        z = make_encoder(self.net, self.c_shift, self.matmul_dtype)(obs)
        hyper, md = self.net.encoder == "simbav2", self.matmul_dtype
        return jnp.tanh(LinearHead(self.action_dim, hyper, self.net.width, md, name="mean")(z))


class Critic(nn.Module):
    """Q(s, a): ``num_bins`` outputs (categorical logits or quantiles), or one
    value when ``num_bins`` == 1."""

    net: NetworkConfig
    num_bins: int
    c_shift: float | None = 3.0
    matmul_dtype: str = "float32"

    @nn.compact
    def __call__(self, obs: jnp.ndarray, action: jnp.ndarray) -> jnp.ndarray:
        x = jnp.concatenate([obs, action], axis=-1)
        z = make_encoder(self.net, self.c_shift, self.matmul_dtype)(x)
        hyper = self.net.encoder == "simbav2"
        out = LinearHead(self.num_bins, hyper, self.net.width, self.matmul_dtype)(z)
        return out[..., 0] if self.num_bins == 1 else out  # (batch,) or (batch, bins)


class CriticEnsemble:
    """``num_critics`` independent critics whose parameters share a leading axis.

    One axis serves clipped double-Q (2), a single critic (1) and quantile
    ensembles alike. ``init``/``apply`` mirror a flax module. Several critics
    run as one ``jax.vmap``; a single one runs unbatched, because XLA:CPU's
    batched matmul with a batch of one is about twice as slow in the backward
    pass as the plain matmul (measured: 14 ms vs 6 ms at width 128).
    """

    def __init__(
        self,
        net: NetworkConfig,
        num_bins: int,
        num_critics: int,
        c_shift=3.0,
        matmul_dtype="float32",
    ):
        self.critic = Critic(net, num_bins, c_shift, matmul_dtype)
        self.num_critics = num_critics

    def init(self, key: jax.Array, obs: jnp.ndarray, action: jnp.ndarray):
        keys = jax.random.split(key, self.num_critics)
        return jax.vmap(lambda k: self.critic.init(k, obs, action))(keys)

    def apply(self, params, obs: jnp.ndarray, action: jnp.ndarray) -> jnp.ndarray:
        """``(num_critics, batch, outputs)`` (logits, quantiles) or ``(num_critics, batch)``."""
        if self.num_critics == 1:
            one = jax.tree.map(lambda x: x[0], params)
            return self.critic.apply(one, obs, action)[None]
        return jax.vmap(lambda p: self.critic.apply(p, obs, action))(params)

    def apply_member(self, params, member: int, obs: jnp.ndarray, action: jnp.ndarray):
        """One critic's output, ``(1, batch, ...)``, without running the others."""
        one = jax.tree.map(lambda x: x[member], params)
        return self.critic.apply(one, obs, action)[None]
