"""Resize a learner to a new architecture without throwing away what it learned.

An architecture mutation (a block added or removed, a width changed) builds
the new learner's fresh state and carries the old one over, leaf by leaf,
matched by parameter path (flax names blocks ``HyperLERPBlock_0``,
``SimbaBlock_1``, ``Dense_2`` ... in order, so block *i* of the old network is
block *i* of the new one):

* a leaf whose path exists in both keeps its overlapping slice
  ``old[:min(o, n), ...]``; the rest of it keeps the fresh initialization;
* a leaf only in the new network (an added block) is fresh, so a new SimbaV2
  block starts with its LERP alpha at the init value ``1/(L+1)``; a leaf only
  in the old network (a removed block, the last one) is dropped;
* optimizer states are carried the same way, so Adam's first and second
  moments of preserved entries survive (new entries start at zero) and the
  bias-correction and learning-rate-schedule counts continue;
* target networks are resized like their online networks, with the same fresh
  entries, so a new entry starts equal in online and target.

Two SimbaV2 details keep the preserved units what they were. A hyperspherical
kernel's preserved output unit (a column) gets zeros, not fresh values, in the
input rows a widening adds, so it stays exactly on the unit sphere; the
re-projection after the resize (``agents.common.project``) then only moves the
units that changed: new columns, and columns that lost rows to a narrowing.
And a LERP block's alpha is stored as ``p`` and used as ``p * init / scale``
with ``init = 1/(L+1)`` and ``scale = 1/sqrt(width)``, both set by the
architecture; the stored value (and its Adam moments) is rescaled so the
effective alpha of every preserved block is unchanged by the resize.
"""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp

from simbarl.agents.actor_critic import ActorCritic, LearnerState
from simbarl.config import NetworkConfig

ALPHA = ("Scaler_1", "scaler")  # a HyperLERPBlock's second Scaler is its alpha
LERP_BLOCK = "HyperLERPBlock_"


def key_names(path) -> tuple[str, ...]:
    """A tree path as plain names: dict keys, attribute names and indices."""
    out = []
    for p in path:
        for attr in ("key", "name", "idx"):
            if hasattr(p, attr):
                out.append(str(getattr(p, attr)))
                break
        else:
            out.append(str(p))
    return tuple(out)


def is_hyper_kernel(names: tuple[str, ...]) -> bool:
    return len(names) >= 2 and names[-2:] == ("hyper", "kernel")


def is_alpha(names: tuple[str, ...]) -> bool:
    return len(names) >= 3 and names[-2:] == ALPHA and names[-3].startswith(LERP_BLOCK)


def alpha_ratio(net: NetworkConfig) -> float:
    """``init / scale`` of a LERP block's alpha: effective alpha = stored * this."""
    return math.sqrt(net.width) / (net.num_blocks + 1)


def overlap(old: jnp.ndarray, new: jnp.ndarray, hyper: bool = False) -> jnp.ndarray:
    """``new`` with its slice overlapping ``old`` replaced by ``old``'s values.

    ``hyper``: ``(..., in, out)`` hyperspherical kernel; a preserved column's
    added input rows are zeroed so the column keeps its unit norm.
    """
    if old.shape == new.shape:
        return jnp.array(old, copy=True)
    if old.ndim != new.ndim:
        raise ValueError(f"cannot resize a leaf of shape {old.shape} to {new.shape}")
    out = new
    if hyper and new.shape[-2] > old.shape[-2]:
        cols = min(old.shape[-1], new.shape[-1])
        out = out.at[..., old.shape[-2] :, :cols].set(0.0)
    common = tuple(slice(0, min(a, b)) for a, b in zip(old.shape, new.shape, strict=True))
    return out.at[common].set(old[common].astype(new.dtype))


def carry_over(old, fresh, *, alpha_scale: float = 1.0, moment_power: dict | None = None):
    """``fresh`` (a params or optimizer-state tree of the new shape) with ``old``'s values.

    Leaves are matched by path; see the module docstring. ``alpha_scale``
    multiplies preserved LERP alphas of a params tree; for an optimizer state,
    ``moment_power`` maps a moment's field name to the power of the scale it
    takes (Adam's ``mu``: -1, ``nu``: -2, since a gradient scales inversely to
    its parameter's reparameterization).
    """
    old_leaves = {key_names(p): x for p, x in jax.tree_util.tree_flatten_with_path(old)[0]}

    def one(path, new):
        names = key_names(path)
        if names not in old_leaves:
            return new
        prev = old_leaves[names]
        if alpha_scale != 1.0 and is_alpha(names):
            power = 1
            if moment_power is not None:
                power = next((v for k, v in moment_power.items() if k in names), 0)
            prev = prev * alpha_scale**power
        return overlap(prev, new, hyper=is_hyper_kernel(names) and moment_power is None)

    return jax.tree_util.tree_map_with_path(one, fresh)


ADAM_MOMENTS = {"mu": -1, "nu": -2}


def resize_state(
    old_agent: ActorCritic, state: LearnerState, new_agent: ActorCritic, key: jax.Array
) -> LearnerState:
    """``state`` of ``old_agent`` carried over to ``new_agent``'s architecture.

    ``key`` draws the fresh entries. The temperature, its optimizer, the
    learner's own RNG key and the step counter are kept as they are.
    """
    # Op by op, not jitted: jitting the whole resize of a SimbaV2 learner hung
    # XLA:CPU's compiler here (jax 0.10.2), while op by op takes seconds.
    fresh = new_agent.init(key)
    old_cfg, new_cfg = old_agent.cfg, new_agent.cfg

    def scale(net: str) -> float:
        old_net, new_net = getattr(old_cfg, net), getattr(new_cfg, net)
        return alpha_ratio(old_net) / alpha_ratio(new_net)

    def params(old, new, net):
        return new_agent.project(carry_over(old, new, alpha_scale=scale(net)))

    def opt(old, new, net):
        return carry_over(old, new, alpha_scale=scale(net), moment_power=ADAM_MOMENTS)

    target_actor = state.target_actor
    if new_agent.has_target_actor:
        target_actor = params(state.target_actor, fresh.target_actor, "actor")
    return state.replace(
        actor=params(state.actor, fresh.actor, "actor"),
        critic=params(state.critic, fresh.critic, "critic"),
        target_critic=params(state.target_critic, fresh.target_critic, "critic"),
        target_actor=target_actor,
        actor_opt=opt(state.actor_opt, fresh.actor_opt, "actor"),
        critic_opt=opt(state.critic_opt, fresh.critic_opt, "critic"),
    )
