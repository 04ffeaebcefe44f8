"""Arithmetic per SAC update, counted from layer shapes.

Each kernel ``(..., in, out)`` costs ``2 * in * out`` FLOPs per sample per
forward pass (a leading critic-ensemble axis multiplies it). One SAC update
(see ``simbarl.agents.sac``) runs, per sample:

* actor step: actor forward + backward (weights and inputs, 2x) = 3 A;
  critic forward + backward to the action input only (1x) = 2 C;
* critic step: actor forward on the next observation = A; target critic
  forward = C; online critic forward + backward (2x) = 3 C;

so ``4 A + 6 C`` matmul FLOPs per sample, ``A``/``C`` being the actor's and
all critics' forward FLOPs. Elementwise work is not counted: this is the
matmul arithmetic that bounds the update on a CPU or GPU.
"""

from __future__ import annotations

import jax
import numpy as np


def forward_flops(params) -> int:
    """Matmul FLOPs of one forward pass for one sample."""
    total = 0
    for path, leaf in jax.tree_util.tree_flatten_with_path(params)[0]:
        name = getattr(path[-1], "key", None)
        if name == "kernel":
            total += 2 * int(np.prod(leaf.shape))  # leading axes: ensemble members
    return total


def sac_update_flops(actor_params, critic_params, batch_size: int) -> int:
    a, c = forward_flops(actor_params), forward_flops(critic_params)
    return (4 * a + 6 * c) * batch_size


def update_flops(
    algo: str, actor_params, critic_params, batch_size: int, num_critics: int, policy_delay=1
) -> float:
    """Matmul FLOPs of one update of any algorithm, averaged over the policy delay.

    Critic step (all algorithms): next action ``A`` + target critics ``C`` +
    online critics forward and backward ``3 C``. Actor step, every
    ``policy_delay``-th update: actor forward and backward ``3 A`` plus the
    critics' forward and input gradient, ``2 C`` (SAC, TQC: every critic) or
    ``2 C / num_critics`` (TD3, DDPG: the first critic only). FlashSAC stacks its
    batches: see ``flashsac_per_sample``.
    """
    a, c = forward_flops(actor_params), forward_flops(critic_params)
    if algo == "flashsac":
        return flashsac_per_sample(a, c, policy_delay) * batch_size
    critic_in_actor = 2 * c / num_critics if algo in ("td3", "ddpg") else 2 * c
    per_sample = a + 4 * c + (3 * a + critic_in_actor) / policy_delay
    return per_sample * batch_size


def flashsac_per_sample(a: int, c: int, policy_delay: int) -> float:
    """FlashSAC's matmul FLOPs per sample of the batch (``agents.flashsac``): its
    critics run on ``[(s, a); (s', a')]``, twice the batch, target ``2 C`` and online
    forward and backward ``6 C``, after the next action ``A``; its actor step runs the
    actor forward and backward on ``[s; s']``, ``6 A``, and the critics' forward and
    input gradient on ``s``, ``2 C``."""
    return a + 8 * c + (6 * a + 2 * c) / policy_delay
