"""Search spaces: which config fields a search varies, and over what values.

One format serves every search command (``simbarl tune`` samples it with
Optuna; the evolutionary search mutates within it), so it knows nothing of
either. A space is a JSON or YAML file::

    {"params": [
      {"name": "agent.learning_rate", "type": "float", "low": 3e-5, "high": 1e-3, "log": true},
      {"name": "agent.critic.num_blocks", "type": "int", "low": 1, "high": 3},
      {"name": "batch_size", "type": "categorical", "choices": [128, 256, 512]}
    ]}

``name`` is any ``TrainConfig`` field path (the keys of a run's ``config.json``,
dotted). A space is checked against the base config before anything runs, so
a typo or an empty range costs nothing: see ``check_space``.
"""

from __future__ import annotations

import dataclasses
import json
import math
from pathlib import Path
from typing import Any

from simbarl.config import apply_values, config_from_dict, describe, fits, leaf_type, validate

DEFAULT_SPACE = Path(__file__).resolve().parent / "data" / "space-simbav2.json"
"""The documented default space for SimbaV2-SAC (docs/guides/tune.md)."""

TYPES = ("float", "int", "categorical")
_KEYS = {"name", "type", "low", "high", "log", "step", "choices"}
# Fields a search command sets itself: tuning them would compare unlike runs.
RESERVED = {"env", "steps", "run_dir", "preset", "vmap_seeds", "eval_every", "eval_episodes"}


@dataclasses.dataclass(frozen=True)
class Param:
    """One searched field: a float or int range (optionally log-scaled or stepped), or choices."""

    name: str
    type: str
    low: float | None = None
    high: float | None = None
    log: bool = False
    step: float | None = None
    choices: tuple = ()


@dataclasses.dataclass(frozen=True)
class SearchSpace:
    params: tuple[Param, ...]

    @property
    def names(self) -> list[str]:
        return [p.name for p in self.params]

    def to_dict(self) -> dict:
        """The JSON form (what ``load_space`` reads back), leaving out unset keys."""
        out = []
        for p in self.params:
            d = {"name": p.name, "type": p.type}
            if p.type == "categorical":
                d["choices"] = list(p.choices)
            else:
                d.update(low=p.low, high=p.high)
                if p.log:
                    d["log"] = True
                if p.step is not None:
                    d["step"] = p.step
            out.append(d)
        return {"params": out}


def load_space(path: str | Path) -> SearchSpace:
    """Read a space from a ``.json`` or ``.yaml``/``.yml`` file (format checked, not fields)."""
    path = Path(path)
    if not path.is_file():
        raise ValueError(f"search space {path} does not exist")
    text = path.read_text()
    if path.suffix in (".yaml", ".yml"):
        try:
            import yaml
        except ImportError as e:
            raise ValueError(
                f"search space {path}: YAML needs PyYAML (pip install pyyaml), or write it as JSON"
            ) from e
        try:
            data = yaml.safe_load(text)
        except yaml.YAMLError as e:
            raise ValueError(f"search space {path} is not valid YAML: {e}") from e
    else:
        try:
            data = json.loads(text)
        except json.JSONDecodeError as e:
            raise ValueError(f"search space {path} is not valid JSON: {e}") from e
    return parse_space(data, str(path))


def parse_space(data: Any, source: str = "search space") -> SearchSpace:
    """A ``SearchSpace`` from ``{"params": [...]}`` (or the bare list), every entry checked."""
    entries = data.get("params") if isinstance(data, dict) else data
    if not isinstance(entries, list) or not entries:
        raise ValueError(f'{source}: expected {{"params": [ENTRY, ...]}} with at least one entry')
    params = [_parse_param(e, f"{source} entry {i + 1}") for i, e in enumerate(entries)]
    names = [p.name for p in params]
    dup = sorted({n for n in names if names.count(n) > 1})
    if dup:
        raise ValueError(f"{source}: {', '.join(dup)} appear more than once")
    return SearchSpace(tuple(params))


def _parse_param(e: Any, where: str) -> Param:
    if not isinstance(e, dict) or not isinstance(e.get("name"), str):
        raise ValueError(f'{where}: expected an object with a "name" (a config field path)')
    name = e["name"].strip().replace("-", "_")
    where = f"{where} ({name})"
    unknown = sorted(set(e) - _KEYS)
    if unknown:
        raise ValueError(f"{where}: unknown keys {unknown}; an entry has {sorted(_KEYS)}")
    kind = e.get("type")
    if kind not in TYPES:
        raise ValueError(f"{where}: type must be one of {', '.join(TYPES)} (got {kind!r})")
    if kind == "categorical":
        choices = e.get("choices")
        if not isinstance(choices, list) or len(choices) < 2:
            raise ValueError(f"{where}: categorical needs a list of at least two choices")
        if any(k in e for k in ("low", "high", "log", "step")):
            raise ValueError(f"{where}: categorical takes choices, not low/high/log/step")
        bad = [c for c in choices if not isinstance(c, (bool, int, float, str, type(None)))]
        if bad:
            raise ValueError(f"{where}: choices must be numbers, strings, booleans or null")
        return Param(name, kind, choices=tuple(choices))
    low, high, log, step = e.get("low"), e.get("high"), bool(e.get("log", False)), e.get("step")
    number = int if kind == "int" else (int, float)
    for key, v in (("low", low), ("high", high)):
        if not isinstance(v, number) or isinstance(v, bool) or not math.isfinite(v):
            raise ValueError(f"{where}: {kind} needs a finite numeric {key!r} (got {v!r})")
    if not low < high:
        raise ValueError(f"{where}: the range [{low}, {high}] is empty; low must be below high")
    if log and low <= 0:
        raise ValueError(f"{where}: a log-scaled range needs low > 0 (got {low})")
    if step is not None and (log or not isinstance(step, number) or step <= 0):
        raise ValueError(f"{where}: step must be a positive {kind} and excludes log")
    return Param(name, kind, float(low) if kind == "float" else low, high, log, step)


def check_space(space: SearchSpace, base: dict) -> None:
    """Refuse a space that cannot be run on ``base`` (a ``TrainConfig`` as a dict).

    Every name must be a leaf field the search may vary; a float range needs a
    float field and an int range an int field; every choice must be a value of
    the field; and the config at each end of every range (each choice) must pass
    ``config.validate``, so a width of 0 or a discount above 1 is caught now
    rather than as a failed trial an hour into the study. All problems are
    reported together.
    """
    problems = []
    for p in space.params:
        if p.name in RESERVED:
            problems.append(f"{p.name}: set by the search itself (--steps, --env, ...), not tuned")
            continue
        try:
            kind = leaf_type(p.name)
        except ValueError as e:
            problems.append(str(e))
            continue
        if p.type == "categorical":
            values = list(p.choices)
        else:
            values = [p.low, p.high]
            fits_int = fits(1, kind) and not fits(0.5, kind)
            if p.type == "float" and not fits(0.5, kind):
                problems.append(f"{p.name}: the field takes {describe(kind)}; use type int")
                continue
            if p.type == "int" and not fits_int:
                problems.append(f"{p.name}: the field takes {describe(kind)}; use type float")
                continue
        wrong = [v for v in values if not fits(v, kind)]
        if wrong:
            problems.append(f"{p.name}: {wrong} are not values of the field ({describe(kind)})")
            continue
        for v in values:
            try:
                validate(config_from_dict(apply_values(base, {p.name: v})))
            except (ValueError, TypeError) as e:
                detail = str(e).replace("invalid configuration:\n  ", "")
                problems.append(f"{p.name}={v!r} makes an invalid config: {detail}")
                break
    if problems:
        raise ValueError("invalid search space:\n  " + "\n  ".join(problems))
