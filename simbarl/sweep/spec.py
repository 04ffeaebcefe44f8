"""What a sweep runs: tasks x configs x seeds, each a ``RunSpec`` with its own run directory.

A config is written ``[LABEL=]BASE[:KEY=VALUE,...]`` (``simbarl.config.parse_config``);
``LABEL`` names the config in the results (the ``system`` column) and in run
directories.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

from simbarl.config import (
    TrainConfig,
    config_from_dict,
)
from simbarl.envs.benchmark_tasks import BY_ID, suite_installed, tasks_of
from simbarl.envs.registry import check_task_id


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
