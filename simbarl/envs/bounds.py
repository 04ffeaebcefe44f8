"""The one map from the agent's actions in ``[-1, 1]`` to a task's action units.

Every agent acts in ``[-1, 1]^A``. The Gymnasium adapters (``wrappers.RescaleAction``),
the JAX vector env and the policy in env units (``runs.learner.policy`` with
``bounds``, which ``Agent.act(env_units=True)`` and exported policies use) map
that box to the task's bounds with ``to_bounds``.
"""

from __future__ import annotations

import numpy as np


def to_bounds(action, low, high):
    """``action`` clipped to ``[-1, 1]`` and mapped affinely onto ``[low, high]``.

    numpy or jax arrays; the arithmetic is done in the inputs' precision."""
    action = action.clip(-1.0, 1.0)
    return low + (action + 1.0) * 0.5 * (high - low)


def task_bounds(cfg, task) -> tuple[np.ndarray, np.ndarray]:
    """``(low, high)`` float32 per action dimension that a run's ``[-1, 1]`` maps to:
    ``cfg.action_low``/``action_high`` when set, else the task's own bounds (``[-1, 1]``
    for a task that does not report them, such as a JAX task)."""
    if cfg.action_low is not None:
        low, high = cfg.action_low, cfg.action_high
    elif task.action_low:
        low, high = task.action_low, task.action_high
    else:
        low, high = (-1.0,) * task.action_dim, (1.0,) * task.action_dim
    shape = (task.action_dim,)
    return (
        np.broadcast_to(np.asarray(low, np.float32), shape).copy(),
        np.broadcast_to(np.asarray(high, np.float32), shape).copy(),
    )
