"""Proportional prioritized replay (Schaul et al. 2016) as a pure jax sum tree.

``SumTree.tree`` is a flat array of ``2 * P`` sums (``P`` the capacity rounded
up to a power of two): node ``k`` has children ``2k`` and ``2k + 1``; leaves
``P .. P + capacity - 1`` hold the priorities ``p_i = (|delta_i| + eps)^alpha``
and node 1 the total. Sampling draws ``u`` uniformly in each of ``B`` equal
strata of ``[0, total)`` and descends the tree, so ``P(i) = p_i / total``.
Importance weights ``w_i = (N P(i))^-beta`` are divided by the batch maximum;
``beta`` anneals from ``importance_exponent`` to 1 over the run. New
transitions get the largest priority seen so far, so each is replayed soon.
"""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp
from flax import struct


@struct.dataclass
class SumTree:
    tree: jnp.ndarray  # (2 * leaves,) float32; tree[1] is the total
    max_priority: jnp.ndarray  # () priority given to new transitions

    @property
    def leaves(self) -> int:
        return self.tree.shape[0] // 2


def tree_leaves(capacity: int) -> int:
    """``P``: the capacity rounded up to a power of two."""
    return 1 << max(math.ceil(math.log2(max(capacity, 1))), 0)


def init_tree(capacity: int) -> SumTree:
    leaves = tree_leaves(capacity)
    return SumTree(
        tree=jnp.zeros((2 * leaves,), jnp.float32), max_priority=jnp.ones((), jnp.float32)
    )


def set_priorities(st: SumTree, idx: jnp.ndarray, priority: jnp.ndarray) -> SumTree:
    """Leaves ``idx`` (any shape; repeats: one of them wins) get ``priority``."""
    idx, priority = idx.reshape(-1), priority.reshape(-1).astype(jnp.float32)
    node = idx + st.leaves
    tree = st.tree.at[node].set(priority)
    for _ in range(int(math.log2(st.leaves))):  # refresh the ancestors, level by level
        node = node // 2
        tree = tree.at[node].set(tree[2 * node] + tree[2 * node + 1])
    return st.replace(tree=tree, max_priority=jnp.maximum(st.max_priority, priority.max()))


def add_new(st: SumTree, idx: jnp.ndarray) -> SumTree:
    """Newly written slots get the maximum priority."""
    return set_priorities(st, idx, jnp.broadcast_to(st.max_priority, idx.shape))


def find(st: SumTree, u: jnp.ndarray) -> jnp.ndarray:
    """Leaf index whose prefix-sum interval holds ``u`` (vectorized descent)."""
    node = jnp.ones(u.shape, jnp.int32)
    for _ in range(int(math.log2(st.leaves))):
        left = st.tree[2 * node]
        go_right = u >= left
        u = jnp.where(go_right, u - left, u)
        node = 2 * node + go_right.astype(jnp.int32)
    return node - st.leaves


def sample(
    st: SumTree, key: jax.Array, shape: tuple[int, ...], size: jnp.ndarray, beta
) -> tuple[jnp.ndarray, jnp.ndarray]:
    """``(idx, weight)`` of ``shape``: stratified proportional samples, IS weights."""
    k_strata, k_order = jax.random.split(key)
    count = math.prod(shape)
    total = st.tree[1]
    u = (jnp.arange(count) + jax.random.uniform(k_strata, (count,))) * (total / count)
    idx = find(st, jnp.minimum(u, total * (1.0 - 1e-7)))
    idx = jnp.minimum(idx, size - 1)  # guards float round-off at the very top
    idx = jax.random.permutation(k_order, idx).reshape(shape)  # strata spread over batches
    prob = st.tree[idx + st.leaves] / total
    weight = (size * prob) ** (-beta)
    return idx, weight / weight.max(axis=-1, keepdims=True)  # per utd batch
