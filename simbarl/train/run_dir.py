"""Run directories: resolving a config against its task, creating and reopening runs.

A run directory holds ``config.json`` (the resolved config), ``metrics.jsonl``,
``tb/`` (TensorBoard events) and ``checkpoint.npz``. Nothing is created until
the config and the task have been validated.
"""

from __future__ import annotations

import dataclasses
import json
import time
import typing
from pathlib import Path

import numpy as np

from simbarl.config import AgentConfig, NetworkConfig, ReplayConfig, TrainConfig, validate
from simbarl.envs.registry import TaskSpec, discount_heuristic, resolve_task
from simbarl.files import atomic_open
from simbarl.train.lock import LOCK_FILE

CONFIG_FILE = "config.json"
CHECKPOINT_FILE = "checkpoint.npz"
# Fields a resumed run may change: they do not alter what the learner computes.
RESUMABLE_FIELDS = {
    "steps",
    "run_dir",
    "progress",
    "tensorboard",
    "log_every",
    "pause_at",
    "stop_at_return",
    *("analyze_every", "analyze_batch"),  # the probe does not change training
    *("wandb", "wandb_project", "wandb_entity", "wandb_group"),
}
# Of those, the ones a resumed run takes from the command line rather than the run.
RESUME_OVERRIDES = (
    "steps",
    "progress",
    "pause_at",
    "stop_at_return",
    *("analyze_every", "analyze_batch", "wandb", "wandb_project", "wandb_entity", "wandb_group"),
)


def resolve(cfg: TrainConfig) -> tuple[TrainConfig, TaskSpec]:
    """Validate ``cfg`` and fill the suite-derived fields left as ``None``."""
    validate(cfg)
    task = resolve_task(cfg.env)
    repeat = cfg.action_repeat or task.preset.action_repeat
    agent = cfg.agent
    if agent.discount is None:
        agent = dataclasses.replace(
            agent, discount=discount_heuristic(task.max_episode_steps, repeat)
        )
    agent = resolve_algo(cfg.algo, agent, task.preset.clipped_double_q)
    cfg = dataclasses.replace(cfg, action_repeat=repeat, agent=agent)
    return resolve_action_bounds(cfg, task), task


def _load_actions(path: str) -> np.ndarray:
    try:
        data = np.load(path)
    except (OSError, ValueError) as e:
        raise ValueError(f"--action-bounds-from {path}: cannot read it ({e})") from e
    if isinstance(data, np.lib.npyio.NpzFile):
        with data:
            names = [k for k in ("actions", "action") if k in data.files]
            if not names:
                raise ValueError(f"--action-bounds-from {path}: no 'actions' array in it")
            data = data[names[0]]
    return np.asarray(data, np.float64)


def resolve_action_bounds(cfg: TrainConfig, task: TaskSpec) -> TrainConfig:
    """Fill, broadcast and check the action-space bounds (``--action-low`` etc.)."""
    low, high = cfg.action_low, cfg.action_high
    if cfg.action_bounds_from and (low is None or high is None):
        actions = _load_actions(cfg.action_bounds_from)
        if actions.ndim != 2 or actions.shape[1] != task.action_dim or len(actions) < 2:
            raise ValueError(
                f"--action-bounds-from {cfg.action_bounds_from}: expected an array of shape "
                f"(N, {task.action_dim}), got {actions.shape}"
            )
        p = cfg.action_percentile
        low = low if low is not None else tuple(np.percentile(actions, p, axis=0).tolist())
        high = high if high is not None else tuple(np.percentile(actions, 100 - p, axis=0).tolist())
    if low is None and high is None:
        return cfg
    dim = task.action_dim

    def full(values, own, name):
        values = own if values is None else tuple(float(v) for v in values)
        if len(values) == 1:
            values = values * dim
        if len(values) != dim:
            raise ValueError(f"--{name} needs 1 or {dim} values for {task.env_id}")
        return values

    low = full(low, task.action_low, "action-low")
    high = full(high, task.action_high, "action-high")
    bad = [
        i for i in range(dim) if not task.action_low[i] <= low[i] < high[i] <= task.action_high[i]
    ]
    if bad:
        raise ValueError(
            f"action bounds must satisfy env low <= low < high <= env high; dimensions {bad} "
            f"do not ({task.env_id} allows {task.action_low} .. {task.action_high})"
        )
    return dataclasses.replace(cfg, action_low=low, action_high=high)


def action_bounds(cfg: TrainConfig) -> tuple | None:
    """``(low, high)`` for ``make_env``, or None for the env's own bounds."""
    if cfg.action_low is None:
        return None
    return cfg.action_low, cfg.action_high


def resolve_algo(algo: str, agent: AgentConfig, suite_clipped_double_q: bool) -> AgentConfig:
    """Fill the fields each algorithm sets its own way (see ``AgentConfig``)."""
    fill = {}
    if algo == "tqc":
        fill["critic_type"] = "quantile"
        fill["clipped_double_q"] = False  # truncation replaces the min over critics
    elif agent.clipped_double_q is None:
        by_algo = {"sac": suite_clipped_double_q, "td3": True, "ddpg": False}
        fill["clipped_double_q"] = by_algo[algo]
    if agent.policy_delay is None:
        fill["policy_delay"] = 2 if algo == "td3" else 1
    if agent.policy_noise is None:
        fill["policy_noise"] = 0.2 if algo == "td3" else 0.0
    return dataclasses.replace(agent, **fill)


def num_critics(algo: str, agent: AgentConfig) -> int:
    """Critics in the ensemble: TQC's count, else two for clipped double-Q."""
    if algo == "tqc":
        return agent.tqc_critics
    return 2 if agent.clipped_double_q else 1


def config_to_dict(cfg: TrainConfig) -> dict:
    return dataclasses.asdict(cfg)


_SCALARS = {int: "an integer", float: "a number", bool: "true or false", str: "a string"}


def _fits(value, kind) -> bool:
    if kind is float:
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    if kind is int:
        return isinstance(value, int) and not isinstance(value, bool)
    return isinstance(value, kind)


def check_field_types(cls, d: dict, prefix: str = "") -> None:
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
        if len(kinds) == 1 and kinds[0] in _SCALARS and not _fits(value, kinds[0]):
            raise ValueError(f"{prefix}{key} must be {_SCALARS[kinds[0]]}, not {value!r}")


def config_from_dict(d: dict) -> TrainConfig:
    check_field_types(TrainConfig, d)
    agent = dict(d["agent"])
    agent["actor"] = NetworkConfig(**agent["actor"])
    agent["critic"] = NetworkConfig(**agent["critic"])
    replay = ReplayConfig(**d.get("replay", {}))
    top = {**d, "agent": AgentConfig(**agent), "replay": replay}
    top["reset_at"] = tuple(d.get("reset_at", ()))  # JSON gives lists
    for k in ("action_low", "action_high"):
        top[k] = None if d.get(k) is None else tuple(d[k])
    return TrainConfig(**top)


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
        raise ValueError(
            f"{path} does not describe a valid run ({e}): was it edited by hand? "
            "Put back the field's value or start a new run"
        ) from e
    return cfg


def default_run_dir(cfg: TrainConfig) -> Path:
    stamp = time.strftime("%Y%m%d-%H%M%S")
    env = cfg.env.replace(":", "-").replace("/", "-")
    algo = "" if cfg.algo == "sac" else f"{cfg.algo}-"
    return Path("runs") / env / f"{algo}{cfg.preset}-seed{cfg.seed}-{stamp}"


def create(cfg: TrainConfig, hold=None) -> Path:
    """Make a fresh run directory and write the resolved config into it.

    ``hold`` (``RunLocks.hold``) locks the directory before anything is written."""
    run_dir = Path(cfg.run_dir) if cfg.run_dir else default_run_dir(cfg)
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
    held = [p for p in run_dir.iterdir() if p.name != LOCK_FILE]
    if held and not (run_dir / CHECKPOINT_FILE).exists() and (run_dir / CONFIG_FILE).exists():
        raise ValueError(
            f"run directory {run_dir} holds a run that stopped before its first checkpoint, "
            f"so there is nothing to resume: delete it (rm -r {run_dir}) to start over, or "
            "choose another --run-dir"
        )
    if held:
        raise ValueError(
            f"run directory {run_dir} already holds files; continue it with "
            f"--resume {run_dir} or choose another --run-dir"
        )
    cfg = dataclasses.replace(cfg, run_dir=str(run_dir))
    try:
        write_config(run_dir, cfg)
    except OSError as e:
        raise ValueError(
            f"cannot write run directory {run_dir} ({e.strerror}): choose a writable --run-dir"
        ) from e
    return run_dir


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
    a, b = config_to_dict(saved), config_to_dict(cfg)
    diffs = [k for k in a if k not in RESUMABLE_FIELDS and a[k] != b.get(k)]
    if diffs:
        lines = [f"{k}: run has {a[k]!r}, you asked for {b.get(k)!r}" for k in diffs]
        raise ValueError(
            f"cannot resume {run_dir}: it was started with a different configuration\n  "
            + "\n  ".join(lines)
        )
    return dataclasses.replace(saved, **{k: getattr(cfg, k) for k in RESUME_OVERRIDES})


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
