"""Plain ReLU MLP encoder: ``num_blocks`` hidden layers of ``width`` units."""

from __future__ import annotations

import flax.linen as nn
import jax.numpy as jnp

from simbarl.networks.probe import sow


class MLPEncoder(nn.Module):
    width: int
    num_blocks: int

    @nn.compact
    def __call__(self, x: jnp.ndarray) -> jnp.ndarray:
        init = nn.initializers.orthogonal(jnp.sqrt(2.0))
        for i in range(max(self.num_blocks, 1)):
            x = nn.relu(nn.Dense(self.width, kernel_init=init)(x))
            sow(self, f"hidden:layer{i}", x)
            sow(self, f"feature:layer{i}", x)
        sow(self, "output", x)
        return x
