"""SimbaV2 layers and encoder (Lee et al. 2025, arXiv 2502.15280, Sec. 4).

Weights of every ``HyperDense`` live on the unit hypersphere: each output
unit's weight vector is l2-normalized after init and after every optimizer
step (see ``simbarl.agents.common.project``); features are l2-normalized after
every layer, so norms cannot drift however long training runs.
"""

from __future__ import annotations

import math

import flax.linen as nn
import jax.numpy as jnp

from simbarl.networks.precision import dot_general
from simbarl.networks.probe import sow

EPS = 1e-8


def l2n(x: jnp.ndarray, axis: int = -1) -> jnp.ndarray:
    """``x / max(||x||_2, 1e-8)`` along ``axis``."""
    norm = jnp.linalg.norm(x, axis=axis, keepdims=True)
    return x / jnp.maximum(norm, EPS)


class Scaler(nn.Module):
    """Learnable per-unit scale with decoupled init and effective learning rate.

    The parameter is stored as ``scale * ones(d)`` and used as
    ``param * (init / scale) * x``: its forward value starts at ``init`` while a
    small ``scale`` makes Adam's fixed-size steps relatively larger (Eq. 7).
    """

    dim: int
    init_value: float = 1.0  # "init" in the paper; that name would shadow Module.init
    scale: float = 1.0

    @nn.compact
    def __call__(self, x: jnp.ndarray) -> jnp.ndarray:
        param = self.param("scaler", nn.initializers.constant(self.scale), (self.dim,))
        return param * (self.init_value / self.scale) * x


class HyperDense(nn.Module):
    """Bias-free orthogonally initialized linear layer whose kernel is projected."""

    features: int
    matmul_dtype: str = "float32"  # see simbarl.networks.precision

    @nn.compact
    def __call__(self, x: jnp.ndarray) -> jnp.ndarray:
        kernel_init = nn.initializers.orthogonal(scale=1.0)
        dense = nn.Dense(
            self.features,
            use_bias=False,
            kernel_init=kernel_init,
            dot_general=dot_general(self.matmul_dtype),
            name="hyper",
        )
        return dense(x)


class HyperEmbedder(nn.Module):
    """Shift-aware input embedding: ``l2n(scaler(W l2n([x, c_shift])))``."""

    width: int
    c_shift: float | None = 3.0
    matmul_dtype: str = "float32"

    @nn.compact
    def __call__(self, x: jnp.ndarray) -> jnp.ndarray:
        if self.c_shift is not None:
            # full_like of a slice, not full(x.shape...): the same values, and an
            # export with a symbolic batch size (jax2onnx) traces it
            shift = jnp.full_like(x[..., :1], self.c_shift)
            x = jnp.concatenate([x, shift], axis=-1)
        x = l2n(x)
        s = math.sqrt(2.0 / self.width)
        x = Scaler(self.width, s, s)(HyperDense(self.width, self.matmul_dtype)(x))
        sow(self, "pre_norm", x)
        x = l2n(x)
        sow(self, "feature", x)
        return x


class HyperLERPBlock(nn.Module):
    """Residual block on the hypersphere: ``l2n(h + alpha * (u - h))``.

    ``u = l2n(W2 (relu(s * W1 h) + 1e-8))`` with a 4x inner width; ``alpha`` is a
    Scaler of init ``1/(L+1)`` and scale ``1/sqrt(d_h)``.
    """

    width: int
    num_blocks: int
    expansion: int = 4
    matmul_dtype: str = "float32"

    @nn.compact
    def __call__(self, h: jnp.ndarray) -> jnp.ndarray:
        inner = self.width * self.expansion
        s = math.sqrt(2.0 / self.width) / math.sqrt(self.expansion)
        u = HyperDense(inner, self.matmul_dtype)(h)
        u = nn.relu(Scaler(inner, s, s)(u))
        sow(self, "hidden", u)
        u = l2n(HyperDense(self.width, self.matmul_dtype)(u + EPS))
        alpha = Scaler(self.width, 1.0 / (self.num_blocks + 1), 1.0 / math.sqrt(self.width))
        h = h + alpha(u - h)
        sow(self, "pre_norm", h)
        h = l2n(h)
        sow(self, "feature", h)
        return h


class SimbaV2Encoder(nn.Module):
    """Embedding followed by ``num_blocks`` LERP blocks; output has unit norm."""

    width: int
    num_blocks: int
    c_shift: float | None = 3.0
    matmul_dtype: str = "float32"

    @nn.compact
    def __call__(self, x: jnp.ndarray) -> jnp.ndarray:
        h = HyperEmbedder(self.width, self.c_shift, self.matmul_dtype)(x)
        for _ in range(self.num_blocks):
            h = HyperLERPBlock(self.width, self.num_blocks, matmul_dtype=self.matmul_dtype)(h)
        sow(self, "output", h)
        return h
