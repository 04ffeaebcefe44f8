"""A study's settings (``TuneSpec``, saved as ``DIR/tune.json``) and its Optuna objects.

Every worker, local or on a Ray node, rebuilds the same study from the spec:
the storage, the sampler (seeded per worker, so workers do not draw the same
points) and the pruner.
"""

from __future__ import annotations

import dataclasses
import json
import math
import warnings
from pathlib import Path

import numpy as np

from simbarl.tune.objective import OBJECTIVES
from simbarl.tune.storage import default_url, open_storage, require_optuna

SAMPLERS = ("tpe", "cmaes", "random")
PRUNERS = ("median", "hyperband", "none")
SPEC_FILE = "tune.json"


@dataclasses.dataclass(frozen=True)
class TuneSpec:
    """Everything a worker needs to run trials of one study."""

    out: str
    """Study directory: trials in OUT/trials/<number>, the report in OUT/report."""
    base: dict
    """The base ``TrainConfig`` as a dict (env, steps, preset and --set applied)."""
    space: dict
    """The search space in its JSON form (``SearchSpace.to_dict``)."""
    trials: int
    """Trials the study should hold, finished or pruned, over every session."""
    storage: str
    study_name: str = "simbarl"
    objective: str = "final"
    last_k: int = 3
    sampler: str = "tpe"
    startup_trials: int = 5
    """Random trials before TPE or CMA-ES model the results."""
    seed: int | None = 0
    pruner: str = "median"
    prune_after: int = 3
    """Median pruner: finished trials needed before any trial is pruned."""
    heartbeat: float = 60.0
    retries: int = 1
    """Re-runs of a trial whose process died (database storages); 0: skip it."""

    def save(self) -> Path:
        path = Path(self.out) / SPEC_FILE
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(dataclasses.asdict(self), indent=1) + "\n")
        return path

    @staticmethod
    def load(out: str | Path) -> TuneSpec:
        """The study in ``out``, wherever it was created: its directory is ``out``, and
        the default storage (``OUT/study.db``) follows it; another storage is kept."""
        path = Path(out) / SPEC_FILE
        if not path.is_file():
            raise ValueError(f"{out} is not a simbarl tune directory (no {SPEC_FILE})")
        spec = TuneSpec(**json.loads(path.read_text()))
        storage = default_url(out) if spec.storage == default_url(spec.out) else spec.storage
        return dataclasses.replace(spec, out=str(out), storage=storage)

    def check(self) -> None:
        """Refuse settings that cannot run, before any trial starts."""
        if self.trials < 1:
            raise ValueError(f"--trials must be at least 1 (got {self.trials})")
        if self.objective not in OBJECTIVES:
            raise ValueError(f"--objective must be one of {', '.join(OBJECTIVES)}")
        if self.last_k < 1:
            raise ValueError(f"--last-k must be at least 1 (got {self.last_k})")
        if self.sampler not in SAMPLERS:
            raise ValueError(f"--sampler must be one of {', '.join(SAMPLERS)}")
        if self.pruner not in PRUNERS:
            raise ValueError(f"--pruner must be one of {', '.join(PRUNERS)}")
        if self.startup_trials < 0 or self.prune_after < 0 or self.retries < 0:
            raise ValueError("--startup-trials, --prune-after and --retries must be >= 0")
        if self.heartbeat < 1:
            raise ValueError(f"--heartbeat must be at least 1 second (got {self.heartbeat})")


def evaluation_steps(base: dict) -> list[int]:
    """The env steps at which a trial of ``base`` evaluates (every eval_every, and the end)."""
    steps, every = int(base["steps"]), int(base["eval_every"])
    return sorted({*range(every, steps + 1, every), steps})


def session_seed(seed: int | None, worker: int, trials_before: int) -> int | None:
    """The sampler seed of worker ``worker`` in a session that found ``trials_before``
    trials in the study: ``seed + worker`` for a new study, and a seed of its own for
    every later session, so a re-run draws new values (the same ones again for the
    same study state: reproducible)."""
    if seed is None:
        return None
    if trials_before == 0:
        return seed + worker
    state = np.random.SeedSequence([seed, worker, trials_before]).generate_state(1)[0]
    return int(state)


def make_sampler(spec: TuneSpec, worker: int = 0, trials_before: int = 0):
    """The spec's sampler, seeded per worker and session (``session_seed``)."""
    opt = require_optuna()
    seed = session_seed(spec.seed, worker, trials_before)
    if spec.sampler == "random":
        return opt.samplers.RandomSampler(seed=seed)
    with warnings.catch_warnings():  # multivariate and constant_liar are "experimental"
        warnings.simplefilter("ignore", opt.exceptions.ExperimentalWarning)
        if spec.sampler == "cmaes":
            try:
                import cmaes  # noqa: F401
            except ImportError as e:
                raise RuntimeError(
                    "--sampler cmaes needs the cmaes package: pip install 'simbarl[tune]'"
                ) from e
            # Categorical fields fall back to independent random sampling, as Optuna does.
            return opt.samplers.CmaEsSampler(
                n_startup_trials=spec.startup_trials, seed=seed, warn_independent_sampling=False
            )
        return opt.samplers.TPESampler(
            multivariate=True,
            n_startup_trials=spec.startup_trials,
            seed=seed,
            constant_liar=True,  # parallel workers: count running trials as poor, not absent
        )


def make_pruner(spec: TuneSpec):
    """``median``: stop a trial whose value is below the median of finished trials at the
    same env step, never in the first third of its evaluations; ``hyperband``: successive
    halving over env steps; ``none``."""
    opt = require_optuna()
    if spec.pruner == "none":
        return opt.pruners.NopPruner()
    evals = evaluation_steps(spec.base)
    if spec.pruner == "hyperband":
        return opt.pruners.HyperbandPruner(
            min_resource=evals[0], max_resource=evals[-1], reduction_factor=3
        )
    warm = max(1, math.ceil(len(evals) / 3))  # evaluations never pruned
    first_prunable = evals[min(warm, len(evals) - 1)]
    return opt.pruners.MedianPruner(
        n_startup_trials=spec.prune_after, n_warmup_steps=first_prunable
    )


def open_study(spec: TuneSpec, worker: int = 0):
    """Create the study or load it (``load_if_exists``): re-running a command continues it.

    The sampler is seeded for this session (``session_seed``) from the trials found."""
    opt = require_optuna()
    study = opt.create_study(
        storage=open_storage(spec.storage, spec.heartbeat, spec.retries),
        study_name=spec.study_name,
        direction="maximize",
        sampler=make_sampler(spec, worker),
        pruner=make_pruner(spec),
        load_if_exists=True,
    )
    before = len(study.get_trials(deepcopy=False))
    if before:
        study.sampler = make_sampler(spec, worker, before)
    return study


def holds_metrics(run_dir: Path) -> bool:
    """Whether a trial directory holds a run's rows (never deleted: sweeps keep them too)."""
    path = Path(run_dir) / "metrics.jsonl"
    return path.is_file() and path.stat().st_size > 0


def unrecorded_runs(spec: TuneSpec) -> list[Path]:
    """Trial directories in ``OUT/trials`` that hold metrics but that the spec's storage
    does not record (another ``--storage`` or ``--study-name``, an emptied database)."""
    trials = Path(spec.out) / "trials"
    held = (
        [d for d in trials.iterdir() if d.is_dir() and holds_metrics(d)] if trials.is_dir() else []
    )
    if not held:
        return []
    opt = require_optuna()
    storage = open_storage(spec.storage, spec.heartbeat, spec.retries)
    known: set[str] = set()
    if spec.study_name in {s.study_name for s in storage.get_all_studies()}:
        study = opt.load_study(study_name=spec.study_name, storage=storage)
        known = {str(t.number) for t in study.get_trials(deepcopy=False)}
    return sorted((d for d in held if d.name not in known), key=lambda d: d.name)
