"""Configs compared field by field: their differences as dotted paths, and run labels.

A resume that asks for another config names only the fields that differ
(``agent.critic.width: run has 64, you asked for 32``), and a run's label is its
preset and the fields it changes (``simbav2-small agent.critic.width=32``): the
``system`` column of a sweep, the legend of ``simbarl analyze``.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Iterable
from typing import Any

from simbarl.config.fields import not_compiled
from simbarl.config.presets import PRESETS, preset_name
from simbarl.config.resolve import resolve_algo

# Fields a label leaves out: which task, which seed, where and how long a run trains
# and how it is measured, not what it trains (the sweep's task and seed columns, its
# --steps, --until and --set eval_every=... apply to every config alike).
UNLABELLED = frozenset(
    {
        "env",
        "seed",
        "run_dir",
        "preset",
        "steps",
        "pause_at",
        "stop_at_return",
        "eval_every",
        "eval_episodes",
        "log_every",
        "checkpoint",
    }
)


# Fields a preset may leave None for ``resolve_for_task`` to fill from the task and the
# algorithm.
RESOLVED = frozenset(
    {
        "action_repeat",
        "num_envs",
        "steps",
        "action_low",
        "action_high",
        "agent.discount",
        "agent.clipped_double_q",
        "agent.policy_delay",
        "agent.policy_noise",
    }
)


def differences(old: dict, new: dict, prefix: str = "") -> list[tuple[str, Any, Any]]:
    """``(dotted path, old value, new value)`` of every field whose value differs between
    two config dicts, nested groups compared field by field; a field only one of them
    has is left out (a hand-written partial config)."""
    out = []
    for key, a in old.items():
        if key not in new:
            continue
        b = new[key]
        if isinstance(a, dict) and isinstance(b, dict):
            out += differences(a, b, f"{prefix}{key}.")
        elif _plain(a) != _plain(b):
            out.append((f"{prefix}{key}", a, b))
    return out


def _plain(value: Any) -> Any:
    """Tuples as lists, as JSON gives them back."""
    return list(value) if isinstance(value, tuple) else value


def labelled(key: str) -> bool:
    """Whether a (dotted) field belongs in a run's label: it changes what is trained."""
    top = key.strip().replace("-", "_").split(".")[0]
    return top not in UNLABELLED and top not in not_compiled()


def format_value(value: Any) -> str:
    """A value as a ``KEY=VALUE`` override writes it: ``td3``, ``32``, ``[-1, 0.5]``."""
    return value if isinstance(value, str) else json.dumps(_plain(value))


def config_label(base: str, overrides: Iterable[str]) -> str:
    """``base`` (a preset or config name) followed by the ``KEY=VALUE`` overrides that
    change what is trained: ``simbav2-small agent.critic.width=32``."""
    kept = [o.strip() for o in overrides if labelled(o.partition("=")[0])]
    return " ".join([base, *kept])


def run_label(d: dict) -> str:
    """A run's label from its config dict (a ``config.json``): its preset and the fields
    that differ from the preset's values. What ``resolve_for_task`` fills in (the
    discount, the action repeat, the algorithm's own fields) is not counted."""
    name = preset_name(d.get("preset", "?"))  # a run started under an earlier name
    if name not in PRESETS:
        return str(name)
    base = PRESETS[name]
    algo = d.get("algo", base.algo)
    if algo in ("sac", "td3", "ddpg", "tqc"):  # the run's algorithm, resolved as the run was
        clipped = bool(d.get("agent", {}).get("clipped_double_q"))
        agent = resolve_algo(algo, base.agent, clipped)
        base = dataclasses.replace(base, algo=algo, agent=agent)
    changed = [
        f"{path}={format_value(new)}"
        for path, old, new in differences(dataclasses.asdict(base), d)
        if not (path in RESOLVED and None in (old, new))
    ]
    own = algo in ("sac", PRESETS[name].algo)  # the preset's own algorithm goes unnamed
    return config_label(name if own else f"{algo} {name}", changed)
