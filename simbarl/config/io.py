"""Configs as dicts (``config.json``, sweep specs, search spaces) and dotted field paths.

One implementation of: a config to and from its dict, the type check of a dict's
values against the fields' annotations, a field's annotation by dotted path
(``agent.critic.width``), dotted get and set on a config, and ``KEY=VALUE``
overrides of a config dict, and the config spec of ``--config`` and sweeps.

A config spec is written ``[LABEL=]BASE[:KEY=VALUE,...]``: ``BASE`` is a preset
name or a JSON file of ``TrainConfig`` fields (a run's ``config.json`` works),
and each ``KEY=VALUE`` sets a (dotted) field, the value read as JSON when it
parses (``algo=td3``, ``agent.critic.width=256``, ``action_low=[-1,-0.5]``).
``LABEL`` names the config (a sweep's ``system`` column); without one it is made
from the spec and the overrides every config shares that change what is trained
(``simbav2-small_agent.critic.width=32``, ``config.compare.config_label``).
"""

from __future__ import annotations

import dataclasses
import json
import re
import types
import typing
from pathlib import Path
from typing import Any

from simbarl.config.compare import config_label
from simbarl.config.presets import PRESETS, is_preset, preset
from simbarl.config.schema import AgentConfig, NetworkConfig, ReplayConfig, TrainConfig
from simbarl.config.validate import validate

# Split "a=1,b=[1,2],c.d=x" at the commas that start a new KEY=.
_NEXT_KEY = re.compile(r",(?=\s*[A-Za-z_][\w.-]*\s*=)")

_SCALARS = {int: "an integer", float: "a number", bool: "true or false", str: "a string"}
_LISTS = {int: "integers", float: "numbers", bool: "true or false", str: "strings"}


def config_to_dict(cfg: TrainConfig) -> dict:
    return dataclasses.asdict(cfg)


def config_from_dict(d: dict) -> TrainConfig:
    """The config a ``config_to_dict`` dict (or a run's ``config.json``) describes."""
    check_field_types(TrainConfig, d)
    agent = dict(d["agent"])
    agent["actor"] = NetworkConfig(**agent["actor"])
    agent["critic"] = NetworkConfig(**agent["critic"])
    replay = ReplayConfig(**d.get("replay", {}))
    top = {**d, "agent": AgentConfig(**agent), "replay": replay}
    top["reset_at"] = tuple(d.get("reset_at", ()))  # JSON gives lists
    if isinstance(d.get("progress"), bool):  # runs saved before it had modes
        top["progress"] = "auto" if d["progress"] else "off"
    for k in ("action_low", "action_high"):
        top[k] = None if d.get(k) is None else tuple(d[k])
    return TrainConfig(**top)


def fits(value: Any, kind: Any) -> bool:
    """Whether ``value`` (from JSON) is a valid value of the annotation ``kind``."""
    origin, args = typing.get_origin(kind), typing.get_args(kind)
    if origin is typing.Literal:
        return value in args
    if origin in (typing.Union, types.UnionType):
        return any(fits(value, a) for a in args)
    if kind is type(None):
        return value is None
    if kind is bool:
        return isinstance(value, bool)
    if kind is int:
        return isinstance(value, int) and not isinstance(value, bool)
    if kind is float:
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    if kind is str:
        return isinstance(value, str)
    return False  # tuples and other structured fields


def describe(kind: Any) -> str:
    """An annotation as a reader knows it: ``int or None``, ``one of 'sac', 'td3'``."""
    origin, args = typing.get_origin(kind), typing.get_args(kind)
    if origin is typing.Literal:
        return "one of " + ", ".join(repr(a) for a in args)
    if origin in (typing.Union, types.UnionType):
        return " or ".join(describe(a) for a in args)
    if kind is type(None):
        return "None"
    return getattr(kind, "__name__", None) or str(kind).replace("typing.", "")


def check_field_types(cls: type, d: dict, prefix: str = "") -> None:
    """Raise ``ValueError`` naming a field of ``d`` whose value is not of the scalar
    type ``cls`` declares for it (a string where a number belongs), or unknown."""
    hints = typing.get_type_hints(cls)
    names = {f.name for f in dataclasses.fields(cls)}
    for key, value in d.items():
        if key not in names:
            raise ValueError(f"unknown field {prefix}{key!r}")
        hint = hints[key]
        if dataclasses.is_dataclass(hint) and isinstance(value, dict):
            check_field_types(hint, value, f"{prefix}{key}.")
            continue
        kinds = [a for a in typing.get_args(hint) if a is not type(None)] or [hint]
        if value is None and type(None) in typing.get_args(hint):
            continue
        if len(kinds) == 1 and kinds[0] in _SCALARS and not fits(value, kinds[0]):
            raise ValueError(f"{prefix}{key} must be {_SCALARS[kinds[0]]}, not {value!r}")
        if len(kinds) == 1 and typing.get_origin(kinds[0]) is tuple:  # tuple[float, ...]
            item = typing.get_args(kinds[0])[0]
            items = value if isinstance(value, (list, tuple)) else [object()]
            if item in _SCALARS and not all(fits(v, item) for v in items):
                raise ValueError(f"{prefix}{key} must be a list of {_LISTS[item]}, not {value!r}")


def leaf_type(name: str, cls: type = TrainConfig) -> Any:
    """The annotation of the field at dotted path ``name``, or an error naming the fields."""
    parts = name.split(".")
    for i, part in enumerate(parts):
        hints = typing.get_type_hints(cls)
        if part not in hints:
            at = ".".join(parts[:i]) or cls.__name__
            fields = ", ".join(sorted(hints))
            raise ValueError(f"unknown config field {name!r}: {at} has {fields}")
        kind = hints[part]
        if dataclasses.is_dataclass(kind):
            if i == len(parts) - 1:
                raise ValueError(f"{name!r} is a group of fields; name one of its fields")
            cls = kind
        elif i < len(parts) - 1:
            at = ".".join(parts[: i + 1])
            raise ValueError(f"unknown config field {name!r}: {at} is a value")
    return kind


def parse_value(text: str) -> Any:
    """``text`` read as JSON when it parses, else the string itself (``algo=td3``)."""
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        return text


def apply_overrides(d: dict, overrides: list[str]) -> dict:
    """Set dotted ``KEY=VALUE`` fields of a config dict, failing on unknown keys."""
    d = json.loads(json.dumps(d))  # deep copy
    for item in overrides:
        key, sep, value = item.partition("=")
        key = key.strip().replace("-", "_")
        if not sep or not key:
            raise ValueError(f"override {item!r} is not KEY=VALUE")
        node, parts = d, key.split(".")
        for p in parts[:-1]:
            if not isinstance(node.get(p), dict):
                raise ValueError(f"unknown config field {key!r}")
            node = node[p]
        if parts[-1] not in node:
            close = ", ".join(sorted(node)) if len(parts) > 1 else "see simbarl train --help"
            raise ValueError(f"unknown config field {key!r} ({close})")
        node[parts[-1]] = parse_value(value.strip())
    return d


def apply_values(d: dict, values: dict[str, Any]) -> dict:
    """``d`` (a config dict) with each dotted field set to its value."""
    return apply_overrides(d, [f"{k}={json.dumps(v)}" for k, v in values.items()])


def merge(base: dict, new: dict, where: str = "JSON config") -> dict:
    """``base`` (a config dict) with the fields ``new`` gives, nested dicts merged;
    a key ``base`` lacks is an unknown field."""
    out = dict(base)
    for k, v in new.items():
        if k not in base:
            raise ValueError(f"unknown config field {k!r} in {where}")
        out[k] = (
            merge(base[k], v, where) if isinstance(v, dict) and isinstance(base[k], dict) else v
        )
    return out


def parse_config(spec: str, common: list[str] = ()) -> tuple[str, dict]:
    """``[LABEL=]BASE[:KEY=VALUE,...]`` -> (label, config dict); ``common`` overrides go first."""
    head, _, tail = spec.partition(":")
    label, eq, base = head.partition("=")
    if not eq:
        label, base = "", head
    base = base.strip()
    if is_preset(base):
        d = config_to_dict(preset(base))
    elif base.endswith(".json") and Path(base).is_file():
        given = json.loads(Path(base).read_text())
        # A run's config.json keeps the --pause-at it was trained with; in a sweep that
        # would end every run there (``runner.end_step``): only --until sets it.
        given.pop("pause_at", None)
        d = merge(config_to_dict(preset(given.get("preset", "simbav2"))), given)
    else:
        raise ValueError(
            f"config {spec!r}: {base!r} is neither a preset ({', '.join(PRESETS)}) "
            "nor a JSON file of config fields"
        )
    overrides = [o for o in _NEXT_KEY.split(tail) if o.strip()] if tail else []
    d = apply_overrides(d, [*common, *overrides])
    d["run_dir"] = None
    if d.get("vmap_seeds", 1) != 1:
        raise ValueError(
            f"config {spec!r}: a sweep runs its seeds itself (--seeds), not vmap_seeds"
        )
    if not label.strip():  # the spec's own overrides as written, then the --set ones
        written = {o.partition("=")[0].strip().replace("-", "_") for o in overrides}
        shared = [o for o in common if o.partition("=")[0].strip().replace("-", "_") not in written]
        label = config_label(f"{Path(base).stem}_{tail}".rstrip("_"), shared)
    label = re.sub(r"[^\w.=+-]+", "_", label.strip()).strip("_")
    try:
        validate(config_from_dict(d))
    except (TypeError, ValueError) as e:  # name the spec (a JSON file) the value came from
        raise ValueError(f"config {spec!r}: {' '.join(str(e).split())}") from e
    return label, d


def config_flags(argv: list[str], dotted: bool = True) -> tuple[list[str], list[str]]:
    """Config fields given on a command line, as ``KEY=VALUE`` overrides, and the rest.

    Both ways of writing one are read, in order: ``--set KEY=VALUE ...`` and the
    dotted flags ``simbarl train`` has (``--agent.critic.width 32``, ``--eval-every=500``,
    ``--no-tensorboard``, ``--reset-at 1000 2000``; ``dotted=False``: left in the rest,
    for a parser that reads them itself). A flag that names no config field (a
    command's own) is left in the rest, as are the values after it."""
    overrides, rest = [], []
    i = 0
    while i < len(argv):
        token = argv[i]
        if token == "--set" or token.startswith("--set="):
            items, i = _values(argv, i)
            bad = [v for v in items if "=" not in v]
            if bad or not items:
                raise ValueError(f"--set takes KEY=VALUE items, got {' '.join(items) or 'none'}")
            overrides += items
            continue
        key, value = _field_flag(token) if dotted else (None, None)
        if key is None:
            rest.append(token)
            i += 1
            continue
        items, i = _values(argv, i)
        found = _flag_value(key, items, value)
        plain = isinstance(found, str) and parse_value(found) == found  # algo=td3
        overrides.append(f"{key}={found if plain else json.dumps(found)}")
    return overrides, rest


def _values(argv: list[str], i: int) -> tuple[list[str], int]:
    """The values of the flag at ``argv[i]`` (``--flag=V``, or the words up to the next
    ``--flag``) and the index after them."""
    flag, eq, value = argv[i].partition("=")
    if eq:
        return [value], i + 1
    j = i + 1
    while j < len(argv) and not argv[j].startswith("--"):
        j += 1
    return argv[i + 1 : j], j


def _field_flag(token: str) -> tuple[str | None, bool | None]:
    """``(dotted field, None)`` of a ``--field`` flag, ``(field, False)`` of a
    ``--no-field`` flag of a bool field; ``(None, None)`` when it names no field."""
    if not token.startswith("--") or len(token) < 3:
        return None, None
    key = token[2:].partition("=")[0].replace("-", "_")
    try:
        leaf_type(key)
        return key, None
    except ValueError:
        pass
    head, _, last = key.rpartition(".")
    if last.startswith("no_"):
        key = f"{head}.{last[3:]}" if head else last[3:]
        try:
            if _bool_field(leaf_type(key)):
                return key, False
        except ValueError:
            pass
    return None, None


def _bool_field(kind: Any) -> bool:
    union = typing.get_origin(kind) in (typing.Union, types.UnionType)
    return kind is bool or (union and bool in typing.get_args(kind))


def _flag_value(key: str, items: list[str], negated: bool | None) -> Any:
    """A flag's words as the field's value: a bool flag alone is true (``--no-...``
    false), a tuple field's words a list, a string field's word as written."""
    kind = leaf_type(key)
    if negated is not None or (not items and _bool_field(kind)):
        if items:
            raise ValueError(f"--{key} takes no value")
        return bool(negated is None)
    if not items:
        raise ValueError(f"--{key.replace('_', '-')} needs a value")
    union = typing.get_origin(kind) in (typing.Union, types.UnionType)
    parts = [a for a in typing.get_args(kind) if a is not type(None)] if union else [kind]
    if any(typing.get_origin(p) is tuple for p in parts):
        return [parse_value(v) for v in items]
    if len(items) > 1:
        raise ValueError(f"--{key.replace('_', '-')} takes one value, got {' '.join(items)}")
    return items[0] if str in parts else parse_value(items[0])
