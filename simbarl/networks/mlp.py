"""Plain ReLU MLP encoder: ``num_blocks`` hidden layers of ``width`` units."""

from __future__ import annotations

import flax.linen as nn
import jax.numpy as jnp

from simbarl.networks.precision import dot_general
from simbarl.networks.probe import sow


class MLPEncoder(nn.Module):
    width: int
    num_blocks: int
    matmul_dtype: str = "float32"  # see simbarl.networks.precision

    @nn.compact
    def __call__(self, x: jnp.ndarray) -> jnp.ndarray:
        init = nn.initializers.orthogonal(jnp.sqrt(2.0))
        dot = dot_general(self.matmul_dtype)
        for i in range(max(self.num_blocks, 1)):
            x = nn.relu(nn.Dense(self.width, kernel_init=init, dot_general=dot)(x))
            sow(self, f"hidden:layer{i}", x)
            sow(self, f"feature:layer{i}", x)
        sow(self, "output", x)
        return x
