"""The sets of fields the loops treat alike, derived from the fields' metadata, and
dotted-path access to a config's fields (``get_field``, ``set_field``).

``schema.setting`` writes the metadata; nothing here lists a field by name, so a
new field is classified where it is declared. A field without metadata is the
safe kind: it is part of every compiled program's key, must match when a run is
resumed, and is not vmapped.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from simbarl.config.schema import AgentConfig, TrainConfig


def _meta(f: dataclasses.Field, key: str, default: Any) -> Any:
    return f.metadata.get(key, default)


def not_compiled(cls: type = TrainConfig) -> frozenset[str]:
    """Top-level fields of ``cls`` the compiled programs do not depend on (``compute=False``)."""
    return frozenset(f.name for f in dataclasses.fields(cls) if not _meta(f, "compute", True))


def resumable(cls: type = TrainConfig) -> frozenset[str]:
    """Fields a resumed run may change (``on_resume`` set): they do not alter what the
    learner computes for the steps already done."""
    return frozenset(f.name for f in dataclasses.fields(cls) if _meta(f, "on_resume", None))


def resume_overrides(cls: type = TrainConfig) -> frozenset[str]:
    """Of ``resumable``, the fields a resumed run takes from the command line rather
    than from the run (``on_resume="command"``)."""
    fields = dataclasses.fields(cls)
    return frozenset(f.name for f in fields if _meta(f, "on_resume", None) == "command")


def vmapped(cls: type = AgentConfig) -> tuple[str, ...]:
    """Float hyperparameters a population passes into its vmapped program as data
    (``vmapped=True``), in declaration order."""
    return tuple(f.name for f in dataclasses.fields(cls) if _meta(f, "vmapped", False))


def program_key(cfg: Any) -> Any:
    """``cfg`` with every ``compute=False`` field (at any depth) at its default: configs
    with equal keys compile to the same programs, and the key builds them."""
    changes = {}
    for f in dataclasses.fields(cfg):
        value = getattr(cfg, f.name)
        if not _meta(f, "compute", True):
            factory = f.default_factory
            changes[f.name] = f.default if factory is dataclasses.MISSING else factory()
        elif dataclasses.is_dataclass(value):
            changes[f.name] = program_key(value)
    return dataclasses.replace(cfg, **changes)


def get_field(cfg: Any, name: str) -> Any:
    """The value at dotted path ``name`` of a config."""
    for part in name.split("."):
        cfg = getattr(cfg, part)
    return cfg


def set_field(cfg: Any, name: str, value: Any) -> Any:
    """A copy of a (frozen) config with the field at dotted path ``name`` set to ``value``."""
    head, _, rest = name.partition(".")
    if not rest:
        return dataclasses.replace(cfg, **{head: value})
    return dataclasses.replace(cfg, **{head: set_field(getattr(cfg, head), rest, value)})
