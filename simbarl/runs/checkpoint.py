"""Checkpoints: named pytrees of arrays plus JSON metadata, in one ``.npz``.

Writes go to a temporary file that is fsynced and then renamed over the old
checkpoint, so a crash or kill at any moment leaves the previous checkpoint
whole. Loading checks every leaf's path, shape and dtype against a template
built from the run's config and says what differs.
"""

from __future__ import annotations

import json
import zipfile
import zlib
from pathlib import Path
from typing import Any

import jax
import numpy as np

from simbarl.files import atomic_open

META_KEY = "__meta__"
# What numpy and zipfile raise on a truncated, empty or bit-flipped archive.
DAMAGE = (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile, zlib.error)


def damaged(path: Path, error: Exception) -> ValueError:
    """The error for a checkpoint that cannot be read, saying what the user can do."""
    why = str(error) or type(error).__name__
    if "pickled" in why:  # what np.load says of bytes that are no archive at all
        why = "not an .npz archive"
    return ValueError(
        f"checkpoint {path} is damaged and cannot be read ({why}). simbarl keeps one "
        f"checkpoint per run, so this run cannot be resumed: delete its directory "
        f"({path.parent}) to train it again from the start, or keep its metrics and "
        f"delete only {path.name}"
    )


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
    try:
        with atomic_open(path, "wb") as f:
            np.savez(f, **arrays)
    except OSError as e:  # a full disk, a read-only filesystem: the old file is whole
        raise ValueError(
            f"cannot write checkpoint {path} ({e.strerror or e}); the previous checkpoint "
            "is kept: free disk space or fix the permissions, then continue with --resume "
            f"{path.parent}"
        ) from e


def read_meta(path: str | Path) -> dict:
    path = Path(path)
    try:
        with np.load(path) as data:
            return json.loads(bytes(data[META_KEY]).decode())
    except DAMAGE as e:
        raise damaged(path, e) from e


def load(
    path: str | Path, templates: dict[str, Any], ragged: tuple[str, ...] = ()
) -> tuple[dict[str, Any], dict]:
    """Read the trees named in ``templates`` back into the templates' structure.

    Shapes and dtypes must match the template's, except along axis 0 for the
    trees named in ``ragged`` (the replay buffer stores only its filled part).
    """
    path = Path(path)
    try:
        return _load(path, templates, ragged)
    except CheckpointMismatch:
        raise
    except DAMAGE as e:
        raise damaged(path, e) from e


class CheckpointMismatch(ValueError):
    """A readable checkpoint written by a different configuration."""


def _load(path: Path, templates: dict[str, Any], ragged: tuple[str, ...]):
    with np.load(path) as data:
        meta = json.loads(bytes(data[META_KEY]).decode())
        out = {}
        for name, template in templates.items():
            leaves, treedef = jax.tree_util.tree_flatten_with_path(template)
            values = []
            for p, t in leaves:
                key = f"{name}{jax.tree_util.keystr(p)}"
                if key not in data.files:
                    raise CheckpointMismatch(
                        f"checkpoint {path} has no {key}: it was written by a different "
                        "configuration (network, algorithm or environment)"
                    )
                v = data[key]
                skip = 1 if name in ragged else 0
                if v.shape[skip:] != np.shape(t)[skip:] or v.dtype != np.asarray(t).dtype:
                    raise CheckpointMismatch(
                        f"checkpoint {path}: {key} is {v.dtype}{list(v.shape)}, the run "
                        f"expects {np.asarray(t).dtype}{list(np.shape(t))}: different config"
                    )
                values.append(v)
            out[name] = jax.tree_util.tree_unflatten(treedef, values)
    return out, meta
