"""Training-dynamics metrics: norms, effective learning rate, dormant units, feature rank.

The quantities SimbaV2 (Lee et al. 2025, arXiv 2502.15280, Fig. 4) tracks to show
that hyperspherical normalization keeps optimization steady, computed as pure
``jnp`` functions so that they run inside a jitted (and vmapped) probe:

* parameter and gradient norms per layer and in total, the total weighted by
  parameter count, ``sqrt(sum_l n_l ||W_l||^2 / sum_l n_l)`` (the reference
  code's "effective" norm);
* effective learning rate ``sum_l n_l ||g_l|| / ||W_l|| / sum_l n_l`` (the
  reference code's unwired ``get_effective_lr``) and the size of the optimizer's
  actual step ``||dW_l|| / ||W_l||`` (Adam rescales gradients, so this is what
  moves the weights);
* feature norm: the batch mean of per-sample L2 norms;
* dormant-unit ratio (ReDo, Sokar et al. 2023);
* feature rank: srank (Kumar et al. 2021) and effective rank (Roy & Vetterli 2007).

Nothing here knows about agents or training loops (``train/probe.py`` does).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

EPS = 1e-12


# flax's module names -> the short names of metric keys ("HyperLERPBlock_1" -> "block1")
SHORT_NAMES = {
    "HyperLERPBlock": "block",
    "SimbaBlock": "block",
    "FlashSACBlock": "block",
    "BatchNorm": "bn",
    "RMSNorm": "rms",
    "HyperDense": "dense",
    "Dense": "dense",
    "Scaler": "scaler",
    "LayerNorm": "ln",
    "LinearHead": "head",
}


def _short(key: str) -> str | None:
    """A flax module or variable name as it appears in a metric name; None drops it."""
    if key in ("params", "hyper"):  # the collection; the Dense inside every HyperDense
        return None
    if key.endswith("Encoder_0"):
        return "encoder"
    if key == "HyperEmbedder_0":
        return "embed"
    base, _, index = key.rpartition("_")
    if not index.isdigit():
        return key
    return f"{SHORT_NAMES.get(base, base)}{index}"


def _key_name(k) -> str:
    return str(getattr(k, "key", getattr(k, "name", getattr(k, "idx", k))))


def named_leaves(tree) -> dict[str, jax.Array]:
    """Leaves of a params-like tree by short dotted name, e.g. ``encoder.block0.dense1.kernel``."""
    out = {}
    for path, leaf in jax.tree_util.tree_flatten_with_path(tree)[0]:
        parts = [_short(_key_name(k)) for k in path]
        out[".".join(p for p in parts if p is not None)] = leaf
    return out


def is_kernel(name: str) -> bool:
    """Weight matrices, reported per layer; scalers, biases and LayerNorm are pooled."""
    return name.endswith("kernel")


def weighted_norm(norms: dict, counts: dict) -> jax.Array:
    """``sqrt(sum_l n_l ||W_l||^2 / sum_l n_l)`` over the names in ``norms``."""
    total = sum(counts[k] for k in norms)
    return jnp.sqrt(sum(counts[k] * norms[k] ** 2 for k in norms) / total)


def weighted_mean(values: dict, counts: dict) -> jax.Array:
    """``sum_l n_l v_l / sum_l n_l``: each layer counts by its parameter count."""
    total = sum(counts[k] for k in values)
    return sum(counts[k] * values[k] for k in values) / total


def _groups(names) -> dict[str, list[str]]:
    """``total``, ``kernels``, ``others`` and, as the paper splits them, ``encoder`` (every
    layer before the output prediction) and ``predictor`` (the heads after it)."""
    kernels = [k for k in names if is_kernel(k)]
    others = [k for k in names if not is_kernel(k)]
    encoder = [k for k in names if k.startswith("encoder.")]
    predictor = [k for k in names if not k.startswith("encoder.")]
    groups = {"total": list(names), "kernels": kernels}
    for group, members in (("others", others), ("encoder", encoder), ("predictor", predictor)):
        if members:
            groups[group] = members
    return groups


def optimization_metrics(params, grads, new_params) -> dict[str, jax.Array]:
    """Norms, effective learning rate and step size of one network (one ensemble member).

    Args:
        params: the network's parameters W.
        grads: the gradient g of its loss at ``params``.
        new_params: the parameters after one optimizer step (and projection)
            from ``params``, so that ``dW = new_params - params``.

    Returns:
        ``param_norm/<layer>``, ``grad_norm/<layer>``, ``elr/<layer>`` (``||g||/||W||``)
        and ``step/<layer>`` (``||dW||/||W||``) for every kernel, and for the
        groups ``total`` (every leaf), ``kernels`` and ``others`` (scalers,
        biases, LayerNorm), ``encoder`` and ``predictor`` (the SimbaV2 paper's
        split: the encoder's leaves, the heads' leaves): norms weighted by count
        as in ``weighted_norm``, ratios averaged by count as in ``weighted_mean``.
    """
    w, g, w1 = named_leaves(params), named_leaves(grads), named_leaves(new_params)
    counts = {k: v.size for k, v in w.items()}
    norm = lambda t: {k: jnp.linalg.norm(v.ravel()) for k, v in t.items()}
    w_norm, g_norm = norm(w), norm(g)
    d_norm = {k: jnp.linalg.norm((w1[k] - w[k]).ravel()) for k in w}
    elr = {k: g_norm[k] / jnp.maximum(w_norm[k], EPS) for k in w}
    step = {k: d_norm[k] / jnp.maximum(w_norm[k], EPS) for k in w}
    out = {}
    for k in w:
        if is_kernel(k):
            layer = k.removesuffix(".kernel")
            out[f"param_norm/{layer}"] = w_norm[k]
            out[f"grad_norm/{layer}"] = g_norm[k]
            out[f"elr/{layer}"] = elr[k]
            out[f"step/{layer}"] = step[k]
    for group, names in _groups(list(w)).items():
        pick = lambda d, names=names: {k: d[k] for k in names}
        out[f"param_norm/{group}"] = weighted_norm(pick(w_norm), counts)
        out[f"grad_norm/{group}"] = weighted_norm(pick(g_norm), counts)
        out[f"elr/{group}"] = weighted_mean(pick(elr), counts)
        out[f"step/{group}"] = weighted_mean(pick(step), counts)
    return out


def feature_norm(x: jax.Array) -> jax.Array:
    """Batch mean of the per-sample L2 norm of ``x`` ``(batch, units)``."""
    return jnp.mean(jnp.linalg.norm(x, axis=-1))


def dormant_ratio(activations: jax.Array, tau: float) -> jax.Array:
    """Fraction of dormant units of a layer's ``(batch, units)`` activations.

    ReDo (Sokar et al. 2023, Def. 3.1): a unit's score is the batch mean of its
    ``|activation|`` divided by the mean score of the layer's units; it is
    dormant when the score is ``<= tau``. ``tau = 0`` counts units that never
    fire on the batch (dead ReLUs).
    """
    return jnp.mean(dormant_mask(activations, tau))


def dormant_mask(activations: jax.Array, tau: float) -> jax.Array:
    """``(units,)`` 1.0 where a unit is dormant (see ``dormant_ratio``)."""
    score = jnp.mean(jnp.abs(activations), axis=0)
    score = score / jnp.maximum(jnp.mean(score), EPS)
    return (score <= tau).astype(jnp.float32)


def srank(features: jax.Array, delta: float = 0.01) -> jax.Array:
    """Kumar et al. (2021), Eq. 1: the least k with ``sum_{i<=k} s_i >= (1 - delta) sum s_i``.

    ``s`` are the singular values of ``features`` ``(batch, dim)``, largest first.
    """
    s = jnp.linalg.svd(features, compute_uv=False)
    cum = jnp.cumsum(s)
    return jnp.sum(cum < (1.0 - delta) * cum[-1]) + 1


def effective_rank(features: jax.Array) -> jax.Array:
    """Roy & Vetterli (2007): ``exp(-sum p_i log p_i)`` with ``p = s / sum s``."""
    s = jnp.linalg.svd(features, compute_uv=False)
    p = s / jnp.maximum(jnp.sum(s), EPS)
    return jnp.exp(-jnp.sum(jnp.where(p > 0, p * jnp.log(jnp.where(p > 0, p, 1.0)), 0.0)))


DORMANT_TAUS = (0.0, 0.1)


def _probed(collection) -> list[tuple[str, str, jax.Array]]:
    """``(kind, layer, (batch, units))`` of every activation sown into a probe collection
    (see ``networks/probe.py``): layer names such as ``embed``, ``block0``, ``layer1``."""
    out = []
    for path, x in jax.tree_util.tree_flatten_with_path(collection)[0]:
        keys = [_key_name(k) for k in path][:-1]  # the last key indexes sow's tuple
        kind, _, extra = keys[-1].partition(":")
        parts = [_short(k) for k in keys[:-1]] + ([extra] if extra else [])
        layer = ".".join(p for p in parts if p not in (None, "encoder"))
        out.append((kind, layer or "encoder", x.reshape(-1, x.shape[-1])))
    return out


def activation_metrics(collection) -> dict[str, jax.Array]:
    """Feature norms, dormant ratios and feature rank from one forward pass's probe.

    Returns ``feature_norm/<layer>`` (after the embedding and each block),
    ``feature_norm/<layer>.pre_norm`` (SimbaV2, before the l2-normalization),
    ``feature_norm/total`` (their sum over the post-normalization layers, as the
    reference code sums them), ``dormant/tau<t>/<layer>`` and
    ``dormant/tau<t>/total`` (over all hidden units) for ``t`` in
    ``DORMANT_TAUS``, and ``rank/srank``, ``rank/effective`` of the encoder output.
    """
    out, feature_total, masks = {}, 0.0, {t: [] for t in DORMANT_TAUS}
    for kind, layer, x in _probed(collection):
        if kind == "feature":
            out[f"feature_norm/{layer}"] = feature_norm(x)
            feature_total = feature_total + out[f"feature_norm/{layer}"]
        elif kind == "pre_norm":
            out[f"feature_norm/{layer}.pre_norm"] = feature_norm(x)
        elif kind == "hidden":
            for t in DORMANT_TAUS:
                mask = dormant_mask(x, t)
                out[f"dormant/tau{t:g}/{layer}"] = jnp.mean(mask)
                masks[t].append(mask)
        elif kind == "output":
            out["rank/srank"] = srank(x).astype(jnp.float32)
            out["rank/effective"] = effective_rank(x)
    out["feature_norm/total"] = jnp.asarray(feature_total, jnp.float32)
    for t, layer_masks in masks.items():
        if layer_masks:
            out[f"dormant/tau{t:g}/total"] = jnp.mean(jnp.concatenate(layer_masks))
    return out
