"""What a sweep runs: tasks x configs x seeds, each a ``RunSpec`` with its own run directory.

A config is written ``[LABEL=]BASE[:KEY=VALUE,...]``: ``BASE`` is a preset name
or a JSON file of ``TrainConfig`` fields (a run's ``config.json`` works), and
each ``KEY=VALUE`` sets a (dotted) field, the value read as JSON when it parses
(``algo=td3``, ``agent.critic.width=256``, ``action_low=[-1,-0.5]``). ``LABEL``
names the config in the results (the ``system`` column) and in run directories;
without one it is made from the spec.
"""

from __future__ import annotations

import dataclasses
import json
import re
from pathlib import Path

from simbarl.config import (
    PRESETS,
    TrainConfig,
    apply_overrides,
    config_from_dict,
    config_to_dict,
    merge,
    preset,
    validate,
)
from simbarl.envs.benchmark_tasks import BY_ID, suite_installed, tasks_of
from simbarl.envs.registry import check_task_id

# Split "a=1,b=[1,2],c.d=x" at the commas that start a new KEY=.
_NEXT_KEY = re.compile(r",(?=\s*[A-Za-z_][\w.-]*\s*=)")


@dataclasses.dataclass(frozen=True)
class RunSpec:
    task: str
    label: str
    seed: int
    config: dict  # the TrainConfig as a dict (JSON-able, to ship to a worker)
    run_dir: str
    restart: bool = False  # --restart: train it again from zero even if it has results

    @property
    def name(self) -> str:
        return f"{self.task} {self.label} seed {self.seed}"

    def train_config(self) -> TrainConfig:
        return config_from_dict(self.config)


def parse_config(spec: str, common: list[str] = ()) -> tuple[str, dict]:
    """``[LABEL=]BASE[:KEY=VALUE,...]`` -> (label, config dict); ``common`` overrides go first."""
    head, _, tail = spec.partition(":")
    label, eq, base = head.partition("=")
    if not eq:
        label, base = "", head
    base = base.strip()
    if base in PRESETS:
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
    label = label.strip() or re.sub(r"[^\w.=+-]+", "_", f"{Path(base).stem}_{tail}".rstrip("_"))
    validate(config_from_dict(d))
    return label, d


def resolve_tasks(selection: list[str]) -> tuple[list[str], list[str]]:
    """Task ids from group/suite names (``dmc-em``, ``mujoco``, ``all``) and ids.

    Returns (tasks to run, tasks skipped because their suite is not installed).
    Ids outside the 57 (``Pendulum-v1``) must be known ids (checked here, before
    any run starts).
    """
    names = [s.strip() for item in selection for s in item.split(",") if s.strip()]
    tasks: list[str] = []
    skipped: list[str] = []
    for name in names:
        if name == "all" or any(name in (t.suite, t.group) for t in BY_ID.values()):
            chosen = tasks_of(name)
        else:
            if name not in BY_ID:
                check_task_id(name)
            chosen = [BY_ID[name]] if name in BY_ID else [name]
        for t in chosen:
            env_id = t if isinstance(t, str) else t.env_id
            if env_id in tasks or env_id in skipped:
                continue
            if not isinstance(t, str) and not suite_installed(t.suite):
                skipped.append(env_id)
            else:
                tasks.append(env_id)
    return tasks, skipped


def task_slug(task: str) -> str:
    return task.replace(":", "-").replace("/", "-")


def expand(
    tasks: list[str], configs: list[tuple[str, dict]], seeds: list[int], out: str | Path
) -> list[RunSpec]:
    """Every (task, config, seed), ordered seed-major so early results cover all tasks."""
    labels = [label for label, _ in configs]
    if len(set(labels)) != len(labels):
        raise ValueError(f"config labels must differ (got {labels}); name them LABEL=...")
    specs = []
    for seed in seeds:
        for task in tasks:
            for label, d in configs:
                run_dir = Path(out) / task_slug(task) / label / f"seed{seed}"
                cfg = {**d, "env": task, "seed": seed, "run_dir": str(run_dir)}
                specs.append(RunSpec(task, label, seed, cfg, str(run_dir)))
    return specs
