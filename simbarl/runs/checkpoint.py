"""Checkpoints: named pytrees of arrays plus JSON metadata, in one ``.npz``.

Writes go to a temporary file that is fsynced and then renamed over the old
checkpoint, so a crash or kill at any moment leaves the previous checkpoint
whole. Loading checks every leaf's path, shape and dtype against a template
built from the run's config and says what differs, reading each array's
``.npy`` header before its data: a crafted or corrupt header (a shape of
200000 x 200000) is refused before anything is allocated. The metadata's
counters are checked too (``counts``), so a hand-edited field is one sentence
naming the file and the field, never a traceback.
"""

from __future__ import annotations

import json
import math
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


def reason(error: Exception) -> str:
    """Why a file could not be read, in a few words."""
    why = str(error) or type(error).__name__
    if "pickled" in why:  # what np.load says of bytes that are no archive at all
        why = "not an .npz archive"
    return why


def damaged(path: Path, error: Exception) -> ValueError:
    """The error for a checkpoint that cannot be read, saying what the user can do."""
    why = reason(error)
    return ValueError(
        f"checkpoint {path} is damaged and cannot be read ({why}). simbarl keeps one "
        f"checkpoint per run, so this run cannot be resumed: delete its directory "
        f"({path.parent}) to train it again from the start, or keep its metrics and "
        f"delete only {path.name}"
    )


def _flatten(name: str, tree) -> dict[str, np.ndarray]:
    leaves = jax.tree_util.tree_flatten_with_path(tree)[0]
    return {f"{name}{jax.tree_util.keystr(p)}": np.asarray(jax.device_get(x)) for p, x in leaves}


def write(path: str | Path, trees: dict[str, Any], meta: dict) -> None:
    """Atomically write ``trees`` (name -> pytree of arrays) and ``meta``; an ``OSError``
    (a full disk) leaves a file already there whole. The policy file uses it too."""
    arrays: dict[str, np.ndarray] = {}
    for name, tree in trees.items():
        arrays.update(_flatten(name, tree))
    arrays[META_KEY] = np.frombuffer(json.dumps(meta).encode(), dtype=np.uint8)
    with atomic_open(Path(path), "wb") as f:
        np.savez(f, **arrays)


def save(path: str | Path, trees: dict[str, Any], meta: dict) -> None:
    """Atomically write ``trees`` (name -> pytree of arrays) and ``meta``."""
    path = Path(path)
    try:
        write(path, trees, meta)
    except OSError as e:  # a full disk, a read-only filesystem: the old file is whole
        raise ValueError(
            f"cannot write checkpoint {path} ({e.strerror or e}); the previous checkpoint "
            "is kept: free disk space or fix the permissions, then continue with --resume "
            f"{path.parent}"
        ) from e


def read_meta(path: str | Path, counts: tuple[str, ...] = (), on_damage=damaged) -> dict:
    """The checkpoint's metadata; the fields named in ``counts`` must be whole numbers
    >= 0 (else the file is reported damaged, naming the field). ``on_damage(path,
    error)``: the ``ValueError`` a file that cannot be read raises (another kind of
    file, such as a policy file, says what to do with it)."""
    path = Path(path)
    try:
        with np.load(path) as data:
            return _meta(path, data, counts)
    except DAMAGE as e:
        raise on_damage(path, e) from e


class CheckpointMismatch(ValueError):
    """A readable checkpoint written by a different configuration."""


def load(
    path: str | Path,
    templates: dict[str, Any],
    ragged: tuple[str, ...] | dict[str, int | None] = (),
    counts: tuple[str, ...] = (),
    on_damage=damaged,
) -> tuple[dict[str, Any], dict]:
    """Read the trees named in ``templates`` back into the templates' structure.

    Shapes and dtypes must match the template's, except along axis 0 for the
    trees named in ``ragged`` (the replay buffer stores only its filled part):
    given as a dict, its value is the length axis 0 must have (None: any).
    ``counts``: metadata fields that must be whole numbers >= 0. Every check is
    made on the arrays' headers, before any array is read. ``on_damage``: as in
    ``read_meta``.
    """
    path = Path(path)
    rows = ragged if isinstance(ragged, dict) else dict.fromkeys(ragged)
    try:
        return _load(path, templates, rows, counts)
    except CheckpointMismatch:
        raise
    except DAMAGE as e:
        raise on_damage(path, e) from e


def _meta(path: Path, data, counts: tuple[str, ...]) -> dict:
    shape, dtype = _header(path, data.zip, META_KEY)
    if dtype != np.uint8 or len(shape) != 1:
        raise ValueError(f"its {META_KEY} is {dtype}{list(shape)}, not bytes")
    meta = json.loads(bytes(data[META_KEY]).decode())
    if not isinstance(meta, dict):
        raise ValueError(f"its {META_KEY} is not a JSON object")
    for name in counts:
        value = meta.get(name)
        if not isinstance(value, int) or isinstance(value, bool) or value < 0:
            raise ValueError(f"its field {name} is {value!r}, not a whole number >= 0")
    return meta


def _header(path: Path, archive: zipfile.ZipFile, key: str) -> tuple[tuple, np.dtype]:
    """Shape and dtype the array ``key`` declares, read from its ``.npy`` header alone;
    a header declaring more bytes than the archive holds for it is damage."""
    info = archive.getinfo(f"{key}.npy")
    with archive.open(info) as f:
        version = np.lib.format.read_magic(f)
        if version == (1, 0):
            shape, _, dtype = np.lib.format.read_array_header_1_0(f)
        elif version == (2, 0):
            shape, _, dtype = np.lib.format.read_array_header_2_0(f)
        else:
            raise ValueError(f"its {key} is in .npy format {version}, which simbarl never writes")
        stored = info.file_size - f.tell()
    declared = math.prod(shape) * dtype.itemsize
    on_disk = info.compress_type != zipfile.ZIP_STORED or info.file_size <= path.stat().st_size
    if declared > stored or not on_disk:
        raise ValueError(f"its {key} declares {dtype}{list(shape)} but holds {stored} bytes")
    return shape, dtype


def _load(path: Path, templates: dict[str, Any], rows: dict, counts: tuple[str, ...]):
    with np.load(path) as data:
        meta = _meta(path, data, counts)
        out, keys = {}, {}
        for name, template in templates.items():  # every header first, then the data
            leaves, treedef = jax.tree_util.tree_flatten_with_path(template)
            for p, t in leaves:
                key = f"{name}{jax.tree_util.keystr(p)}"
                if key not in data.files:
                    raise CheckpointMismatch(
                        f"checkpoint {path} has no {key}: it was written by a different "
                        "configuration (network, algorithm or environment)"
                    )
                shape, dtype = _header(path, data.zip, key)
                want = np.shape(t)
                if name in rows:  # axis 0 ragged: the length the caller knows, if any
                    first = (shape[:1] or (-1,))[0] if rows[name] is None else rows[name]
                    want = (first, *want[1:])
                if tuple(shape) != tuple(want) or dtype != np.asarray(t).dtype:
                    raise CheckpointMismatch(
                        f"checkpoint {path}: {key} is {dtype}{list(shape)}, the run "
                        f"expects {np.asarray(t).dtype}{list(want)}: a different config "
                        "or a damaged file"
                    )
            keys[name] = (leaves, treedef)
        for name, (leaves, treedef) in keys.items():
            values = [data[f"{name}{jax.tree_util.keystr(p)}"] for p, _ in leaves]
            out[name] = jax.tree_util.tree_unflatten(treedef, values)
    return out, meta
