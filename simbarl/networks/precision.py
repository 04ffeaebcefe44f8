"""The dtype network matmuls run in: float32, or bfloat16 with float32 accumulation.

``--agent.matmul-dtype bfloat16`` casts both operands of every network matmul
to bfloat16, in the forward pass and in both products of the backward pass
(the input gradient and the weight gradient), and accumulates and returns
float32. Everything else stays float32: parameters, optimizer states,
activations between layers, normalizations, losses. On CPUs with AMX-BF16
(Intel Sapphire Rapids and later) and on GPU tensor cores such products run
several times faster than float32 ones (a bfloat16 *result* would not: XLA:CPU
runs a bfloat16-out matmul no faster than a float32 one). The gradient products
are written out here (``bf16_matmul``'s custom VJP) so that they too take
bfloat16 operands and give float32 results, in a layout XLA:CPU runs fast.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

MATMUL_DTYPES = ("float32", "bfloat16")


def _contract_last_first(x: jnp.ndarray, w: jnp.ndarray, dtype) -> jnp.ndarray:
    """``x @ w`` for ``x (..., in)``, ``w (in, out)``: ``dtype`` operands, float32 result."""
    dims = (((x.ndim - 1,), (0,)), ((), ()))
    return jax.lax.dot_general(
        x.astype(dtype), w.astype(dtype), dims, preferred_element_type=jnp.float32
    )


@jax.custom_vjp
def bf16_matmul(x: jnp.ndarray, w: jnp.ndarray) -> jnp.ndarray:
    """``x @ w`` with bfloat16 operands and float32 accumulation, in both passes."""
    return _contract_last_first(x, w, jnp.bfloat16)


def _fwd(x, w):
    xb, wb = x.astype(jnp.bfloat16), w.astype(jnp.bfloat16)
    return _contract_last_first(xb, wb, jnp.bfloat16), (xb, wb)


def _materialized_transpose(a: jnp.ndarray) -> jnp.ndarray:
    """``a.T`` of a 2-d array as a new array in row-major order.

    XLA folds a plain transpose into the matmul that reads it, and XLA:CPU runs a
    bfloat16 matmul whose left operand is transposed in float32 (measured on a
    Xeon with AMX: 2.0 ms against 0.5 ms for (512, 256) @ (256, 2048)); going
    through a 3-d view makes it copy the data instead.
    """
    n, d = a.shape
    return a.reshape(n, d, 1).transpose(1, 2, 0).reshape(d, n)


def _bwd(res, g):
    xb, wb = res  # float32 primals (the networks' parameters and activations are)
    gb = g.astype(jnp.bfloat16)
    # input gradient g @ w.T: (..., out) x (in, out) -> (..., in)
    dx = jax.lax.dot_general(
        gb, wb, (((g.ndim - 1,), (1,)), ((), ())), preferred_element_type=jnp.float32
    )
    # weight gradient x.T @ g summed over every leading axis: (in, out)
    x2 = xb.reshape(-1, xb.shape[-1])
    g2 = gb.reshape(-1, gb.shape[-1])
    dw = _contract_last_first(_materialized_transpose(x2), g2, jnp.bfloat16)
    return dx, dw


bf16_matmul.defvjp(_fwd, _bwd)


def _bf16_dot_general(lhs, rhs, dimension_numbers, precision=None, preferred_element_type=None):
    """``flax.linen.Dense``'s ``dot_general`` for bfloat16 matmuls (``x @ kernel``)."""
    (lc, rc), (lb, rb) = dimension_numbers
    if tuple(lc) == (lhs.ndim - 1,) and tuple(rc) == (0,) and not lb and not rb and rhs.ndim == 2:
        return bf16_matmul(lhs, rhs)
    raise NotImplementedError(
        f"bfloat16 matmuls cover a Dense layer's x @ kernel only, not {dimension_numbers}"
    )


def dot_general(matmul_dtype: str):
    """The ``dot_general`` a Dense layer uses for ``matmul_dtype`` (None: flax's own)."""
    if matmul_dtype == "float32":
        return None
    if matmul_dtype == "bfloat16":
        return _bf16_dot_general
    raise ValueError(f"matmul dtype {matmul_dtype!r}: choose one of {', '.join(MATMUL_DTYPES)}")
