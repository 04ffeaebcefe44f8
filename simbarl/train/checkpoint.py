"""Checkpoints: named pytrees of arrays plus JSON metadata, in one ``.npz``.

Writes go to a temporary file that is fsynced and then renamed over the old
checkpoint, so a crash or kill at any moment leaves the previous checkpoint
whole. Loading checks every leaf's path, shape and dtype against a template
built from the run's config and says what differs.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import jax
import numpy as np

from simbarl.files import atomic_open

META_KEY = "__meta__"


def _flatten(name: str, tree) -> dict[str, np.ndarray]:
    leaves = jax.tree_util.tree_flatten_with_path(tree)[0]
    return {f"{name}{jax.tree_util.keystr(p)}": np.asarray(jax.device_get(x)) for p, x in leaves}


def save(path: str | Path, trees: dict[str, Any], meta: dict) -> None:
    """Atomically write ``trees`` (name -> pytree of arrays) and ``meta``."""
    path = Path(path)
    arrays: dict[str, np.ndarray] = {}
    for name, tree in trees.items():
        arrays.update(_flatten(name, tree))
    arrays[META_KEY] = np.frombuffer(json.dumps(meta).encode(), dtype=np.uint8)
    with atomic_open(path, "wb") as f:
        np.savez(f, **arrays)


def read_meta(path: str | Path) -> dict:
    try:
        with np.load(path) as data:
            return json.loads(bytes(data[META_KEY]).decode())
    except (OSError, ValueError, KeyError) as e:
        raise ValueError(f"checkpoint {path} cannot be read ({e}); it may be corrupt") from e


def load(
    path: str | Path, templates: dict[str, Any], ragged: tuple[str, ...] = ()
) -> tuple[dict[str, Any], dict]:
    """Read the trees named in ``templates`` back into the templates' structure.

    Shapes and dtypes must match the template's, except along axis 0 for the
    trees named in ``ragged`` (the replay buffer stores only its filled part).
    """
    path = Path(path)
    try:
        data = np.load(path)
    except (OSError, ValueError) as e:
        raise ValueError(f"checkpoint {path} cannot be read ({e}); it may be corrupt") from e
    with data:
        meta = json.loads(bytes(data[META_KEY]).decode())
        out = {}
        for name, template in templates.items():
            leaves, treedef = jax.tree_util.tree_flatten_with_path(template)
            values = []
            for p, t in leaves:
                key = f"{name}{jax.tree_util.keystr(p)}"
                if key not in data.files:
                    raise ValueError(
                        f"checkpoint {path} has no {key}: it was written by a different "
                        "configuration (network, algorithm or environment)"
                    )
                v = data[key]
                skip = 1 if name in ragged else 0
                if v.shape[skip:] != np.shape(t)[skip:] or v.dtype != np.asarray(t).dtype:
                    raise ValueError(
                        f"checkpoint {path}: {key} is {v.dtype}{list(v.shape)}, the run "
                        f"expects {np.asarray(t).dtype}{list(np.shape(t))}: different config"
                    )
                values.append(v)
            out[name] = jax.tree_util.tree_unflatten(treedef, values)
    return out, meta
