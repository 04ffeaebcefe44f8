"""Published learning curves shipped with the package (see data/README.md)."""

from __future__ import annotations

import csv
from functools import lru_cache
from importlib import resources

from simbarl.envs.registry import DMC_PREFIX


def published_task_name(env_id: str) -> str:
    """Our task id -> the name in the published table (MuJoCo was published on -v4)."""
    from simbarl.envs.benchmark_tasks import BY_ID

    if env_id in BY_ID:
        return BY_ID[env_id].published
    if env_id.startswith(DMC_PREFIX):
        return env_id[len(DMC_PREFIX) :]
    if env_id.endswith("-v5"):
        return env_id[:-3] + "-v4"
    return env_id


@lru_cache(maxsize=1)
def _rows() -> tuple[dict, ...]:
    with resources.files("simbarl.data").joinpath("published_curves.csv").open() as f:
        return tuple(csv.DictReader(f))


def published_curve(env_id: str, system: str = "simbaV2_utd2", metric: str = "avg_return"):
    """``{env_step: (mean, std, n_seeds)}`` of a published system on a task."""
    task = published_task_name(env_id)
    return {
        int(float(r["env_step"])): (float(r["mean"]), float(r["std"]), int(r["n_seeds"]))
        for r in _rows()
        if r["system"] == system and r["task"] == task and r["metric"] == metric
    }
