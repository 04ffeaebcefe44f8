"""SimBa (v1) encoder (Lee et al. 2024, arXiv 2410.09754).

Orthogonal input projection, pre-LayerNorm residual MLP blocks (4x inner
width, He init), final LayerNorm. Observation normalization (RSNorm) happens
before the network, in the learner, for every encoder alike.
"""

from __future__ import annotations

import flax.linen as nn
import jax.numpy as jnp

from simbarl.networks.precision import dot_general
from simbarl.networks.probe import sow


class SimbaBlock(nn.Module):
    width: int
    expansion: int = 4
    matmul_dtype: str = "float32"  # see simbarl.networks.precision

    @nn.compact
    def __call__(self, x: jnp.ndarray) -> jnp.ndarray:
        he = nn.initializers.he_normal()
        dot = dot_general(self.matmul_dtype)
        h = nn.LayerNorm()(x)
        h = nn.relu(nn.Dense(self.width * self.expansion, kernel_init=he, dot_general=dot)(h))
        sow(self, "hidden", h)
        x = x + nn.Dense(self.width, kernel_init=he, dot_general=dot)(h)
        sow(self, "feature", x)
        return x


class SimbaEncoder(nn.Module):
    width: int
    num_blocks: int
    matmul_dtype: str = "float32"

    @nn.compact
    def __call__(self, x: jnp.ndarray) -> jnp.ndarray:
        init = nn.initializers.orthogonal(1.0)
        x = nn.Dense(self.width, kernel_init=init, dot_general=dot_general(self.matmul_dtype))(x)
        sow(self, "feature:embed", x)
        for _ in range(self.num_blocks):
            x = SimbaBlock(self.width, matmul_dtype=self.matmul_dtype)(x)
        x = nn.LayerNorm()(x)
        sow(self, "output", x)
        return x
