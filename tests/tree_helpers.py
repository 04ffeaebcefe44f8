"""Pytree helpers the learner tests share."""

import jax
import jax.numpy as jnp
import numpy as np


def copy_tree(tree):
    return jax.tree.map(jnp.copy, tree)  # update_many donates its state argument


def trees_equal(a, b) -> bool:
    pairs = zip(jax.tree.leaves(a), jax.tree.leaves(b), strict=True)
    return all(np.array_equal(x, y) for x, y in pairs)


def all_finite(tree) -> bool:
    return all(np.all(np.isfinite(np.asarray(x))) for x in jax.tree.leaves(tree))
