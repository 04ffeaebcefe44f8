"""Run directories: resolving a config against its task, creating and reopening runs.

A run directory holds ``config.json`` (the resolved config), ``metrics.jsonl``,
``tb/`` (TensorBoard events) and ``checkpoint.npz``. Nothing is created until
the config and the task have been validated.
"""

from __future__ import annotations

import dataclasses
import json
import time
from collections.abc import Callable
from pathlib import Path

from simbarl.config import (
    TrainConfig,
    config_from_dict,
    config_to_dict,
    differences,
    resolve_for_task,
    resumable,
    resume_overrides,
    validate,
)
from simbarl.envs.registry import TaskSpec, resolve_task
from simbarl.files import atomic_open
from simbarl.replay.memory import GIB, capacity_for_bytes, replay_bytes
from simbarl.runs.lock import LOCK_FILE

CONFIG_FILE = "config.json"
CHECKPOINT_FILE = "checkpoint.npz"


def resolve(cfg: TrainConfig) -> tuple[TrainConfig, TaskSpec]:
    """Validate ``cfg``, fill the suite-derived fields left as ``None`` and, with
    ``--buffer-memory``, the replay capacity."""
    validate(cfg)
    task = resolve_task(cfg.env, cfg.asymmetric_observation)
    return size_replay(resolve_for_task(cfg, task), task), task


def size_replay(cfg: TrainConfig, task: TaskSpec) -> TrainConfig:
    """``cfg`` with ``buffer_size`` the capacity ``buffer_memory`` holds (``TrainConfig``),
    or as it is without one. Pure arithmetic on the task's sizes: whether the device can
    hold the budget is checked when the run opens its replay (``Session.open``)."""
    if cfg.buffer_memory is None:
        return cfg
    r, budget = cfg.replay, int(cfg.buffer_memory * GIB)
    dims = (task.obs_dim, task.action_dim, r.obs_dtype, r.prioritized)
    capacity = capacity_for_bytes(budget, *dims, multiple=cfg.num_envs, copies=cfg.vmap_seeds)
    if capacity == 0:
        step = replay_bytes(cfg.num_envs, *dims) * cfg.vmap_seeds
        seeds = f" for each of {cfg.vmap_seeds} seeds" if cfg.vmap_seeds > 1 else ""
        raise ValueError(
            f"--buffer-memory {cfg.buffer_memory:g} GiB holds no vector step of {cfg.env}: "
            f"one step of {cfg.num_envs} envs{seeds} takes {step / 2**20:.3g} MiB "
            f"({task.obs_dim} observation entries in {r.obs_dtype}, {task.action_dim} "
            "actions). Raise --buffer-memory or lower --num-envs"
        )
    return dataclasses.replace(cfg, buffer_size=capacity)


def load_config(run_dir: str | Path) -> TrainConfig:
    """The run's saved config; a damaged ``config.json`` is a ``ValueError`` naming it."""
    path = Path(run_dir) / CONFIG_FILE
    if not path.is_file():
        raise ValueError(f"{run_dir} is not a simbarl run directory (no {CONFIG_FILE})")
    try:
        cfg = config_from_dict(json.loads(path.read_text()))
        validate(cfg)
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise ValueError(f"{path} is not valid JSON ({e}): the file is damaged") from e
    except (TypeError, KeyError, ValueError, AttributeError) as e:
        why = " ".join(str(e).split())  # one line: validate lists its problems on lines
        raise ValueError(
            f"{path} does not describe a valid run ({why}): was it edited by hand? "
            "Put back the field's value or start a new run"
        ) from e
    return cfg


def default_run_dir(cfg: TrainConfig) -> Path:
    stamp = time.strftime("%Y%m%d-%H%M%S")
    env = cfg.env.replace(":", "-").replace("/", "-")
    algo = "" if cfg.algo == "sac" else f"{cfg.algo}-"
    return Path("runs") / env / f"{algo}{cfg.preset}-seed{cfg.seed}-{stamp}"


def create(
    cfg: TrainConfig, hold=None, files: dict[str, str] | None = None, resumable: bool = True
) -> Path:
    """Make a fresh run directory and write the resolved config into it, then ``files``
    (name: text, such as the offline trainer's ``offline.json``).

    ``hold`` (``RunLocks.hold``) locks the directory before anything is written.
    ``resumable``: whether an occupied directory's message offers ``--resume``."""
    run_dir = Path(cfg.run_dir) if cfg.run_dir else default_run_dir(cfg)
    claim(run_dir, hold, _occupied if resumable else _occupied_for_good)
    cfg = dataclasses.replace(cfg, run_dir=str(run_dir))
    try:
        write_config(run_dir, cfg)
        for name, text in (files or {}).items():
            with atomic_open(run_dir / name) as f:
                f.write(text)
    except OSError as e:
        raise ValueError(
            f"cannot write run directory {run_dir} ({e.strerror}): choose a writable --run-dir"
        ) from e
    return run_dir


def claim(run_dir: Path, hold, occupied: Callable[[Path], str]) -> Path:
    """Make ``run_dir`` (every run directory is made here), lock it with ``hold`` and
    refuse it with the message ``occupied(run_dir)`` if it already holds files."""
    if run_dir.exists() and not run_dir.is_dir():
        raise ValueError(f"run directory {run_dir} is a file: choose another --run-dir")
    try:
        run_dir.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise ValueError(
            f"cannot create run directory {run_dir} ({e.strerror}): choose a writable --run-dir"
        ) from e
    if hold is not None:
        hold(run_dir)
    if any(p.name != LOCK_FILE for p in run_dir.iterdir()):
        raise ValueError(occupied(run_dir))
    return run_dir


def _occupied(run_dir: Path) -> str:
    if not (run_dir / CHECKPOINT_FILE).exists() and (run_dir / CONFIG_FILE).exists():
        return (
            f"run directory {run_dir} holds a run that stopped before its first checkpoint, "
            f"so there is nothing to resume: delete it (rm -r {run_dir}) to start over, or "
            "choose another --run-dir"
        )
    return (
        f"run directory {run_dir} already holds files; continue it with "
        f"--resume {run_dir} or choose another --run-dir"
    )


def _occupied_for_good(run_dir: Path) -> str:
    """The refusal for a run that cannot be continued (an offline run)."""
    return (
        f"run directory {run_dir} already holds files, and this kind of run does not "
        f"resume: choose another --run-dir, or delete it (rm -r {run_dir}) to train again"
    )


class RunWriteError(OSError):
    """A write into a run directory failed (a full disk, a lost mount): names the run."""

    def __init__(self, run_dir: Path, error: OSError):
        super().__init__(error.errno, error.strerror or str(error))
        self.run_dir, self.error = Path(run_dir), error

    def __str__(self) -> str:
        return f"{self.error} (run {self.run_dir})"


def write_config(run_dir: Path, cfg: TrainConfig) -> None:
    with atomic_open(run_dir / CONFIG_FILE) as f:
        f.write(json.dumps(config_to_dict(cfg), indent=2) + "\n")


def record_budget(run_dir: Path, cfg: TrainConfig) -> None:
    """Save a resume's ``--steps`` in ``config.json``: the budget in force is the run's,
    so a later ``--resume`` without ``--steps`` carries on to it."""
    if load_config(run_dir).steps != cfg.steps:
        write_config(run_dir, dataclasses.replace(cfg, run_dir=str(run_dir)))


def check_resumable(run_dir: Path, cfg: TrainConfig) -> TrainConfig:
    """The saved config, after checking ``cfg`` asks for the same run."""
    saved = load_config(run_dir)
    # A --vmap-seeds run keeps its checkpoints in its seed<k> directories.
    if saved.vmap_seeds == 1 and not (run_dir / CHECKPOINT_FILE).is_file():
        raise ValueError(
            f"{run_dir} has no {CHECKPOINT_FILE} to resume from: it stopped before its first "
            f"checkpoint. Delete it (rm -r {run_dir}) and start the run again without --resume"
        )
    may_differ = resumable()
    diffs = [
        (path, old, new)
        for path, old, new in differences(config_to_dict(saved), config_to_dict(cfg))
        if path.split(".")[0] not in may_differ
    ]
    if diffs:
        lines = [f"{path}: run has {old!r}, you asked for {new!r}" for path, old, new in diffs]
        raise ValueError(
            f"cannot resume {run_dir}: it was started with a different configuration\n  "
            + "\n  ".join(lines)
        )
    return dataclasses.replace(saved, **{k: getattr(cfg, k) for k in sorted(resume_overrides())})


def reopen(resume: str | Path, cfg: TrainConfig, hold) -> tuple[Path, TrainConfig]:
    """Lock the run directory ``resume`` (``RunLocks.hold``) and return it with the config
    it continues under, after ``check_resumable``; a new ``--steps`` becomes its budget."""
    run_dir = hold(resume)
    cfg = check_resumable(run_dir, dataclasses.replace(cfg, run_dir=str(run_dir)))
    record_budget(run_dir, cfg)
    return run_dir, cfg


def reopen_seat(group_dir: Path, scfg: TrainConfig, vmap_seeds: int, hold) -> Path:
    """The directory seed config ``scfg`` of a resumed run continues in: the run's own,
    or with ``--vmap-seeds`` its ``seed<k>`` directory, locked and checked like the run's."""
    if vmap_seeds == 1:
        return group_dir
    return reopen(scfg.run_dir, scfg, hold)[0]
