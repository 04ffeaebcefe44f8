"""The environments' state in a checkpoint, beside the loop state.

A loop hands ``save_loop`` its envs' state as ``(tree, info)``: a pytree of
arrays, stored like the learner, and a JSON ``info`` (RNG states, step
counters) in the checkpoint's metadata under ``env_state``. A checkpoint
without it (written by an older simbarl, or of envs whose state cannot be
read) loads as before, and a resume restarts the episodes that were in flight.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from simbarl.runs import checkpoint

META_KEY = "env_state"


def flat_shapes(arrays: dict[str, np.ndarray]) -> dict[str, list]:
    """``name -> [dtype, shape]`` of a flat tree, for ``info`` (``load_env`` rebuilds
    its template from them)."""
    return {k: [np.asarray(v).dtype.str, list(np.shape(v))] for k, v in arrays.items()}


def env_info(path: str | Path) -> dict | None:
    """The ``info`` of the envs' state in checkpoint ``path``, or None if it holds none."""
    return checkpoint.read_meta(path).get(META_KEY)


def load_env(path: str | Path, template=None):
    """``(tree, info)`` of the envs' state in checkpoint ``path``, or None if it holds none.

    ``template``: the tree's structure, shapes and dtypes; without it the tree is
    the flat dict ``info["shapes"]`` describes (see ``flat_shapes``)."""
    info = env_info(path)
    if info is None:
        return None
    if template is None:
        template = {k: np.zeros(shape, dtype) for k, (dtype, shape) in info["shapes"].items()}
    trees, _ = checkpoint.load(path, {"env": template})
    return trees["env"], info
