"""One trial: sample a config from the space, train it in OUT/trials/<number>, score it.

Each evaluation is reported to Optuna as it happens; when the pruner says stop,
the run stops right after that evaluation's checkpoint (the ``Pruner`` callback),
so a pruned trial keeps its run directory, rows and checkpoint. A trial that
re-runs an interrupted or crashed one takes over that trial's run directory
and resumes it from its checkpoint, re-reporting the evaluations it had.
"""

from __future__ import annotations

import dataclasses
import shutil
import time
from collections.abc import Callable
from pathlib import Path

from simbarl.config import apply_values, config_from_dict
from simbarl.runs.metrics import read_metrics
from simbarl.search_space import Param, SearchSpace, parse_space
from simbarl.sweep.runner import checkpoint_step
from simbarl.train.callbacks import Callback
from simbarl.train.run import train
from simbarl.tune.objective import eval_returns, objective_value
from simbarl.tune.storage import require_optuna, retried_from
from simbarl.tune.study import TuneSpec, holds_metrics


def trial_dir(out: str | Path, number: int) -> Path:
    return Path(out) / "trials" / str(number)


def suggest(trial, p: Param):
    """Ask the trial for a value of ``p`` in its range."""
    if p.type == "float":
        return trial.suggest_float(p.name, p.low, p.high, log=p.log, step=p.step)
    if p.type == "int":
        return trial.suggest_int(p.name, p.low, p.high, log=p.log, step=p.step or 1)
    return trial.suggest_categorical(p.name, list(p.choices))


def trial_config(spec: TuneSpec, values: dict, run_dir: Path):
    """The ``TrainConfig`` of a trial: the base with the sampled values, in its directory."""
    d = apply_values(spec.base, values)
    d["run_dir"] = str(run_dir)
    return dataclasses.replace(config_from_dict(d), progress="off")


def _take_over(spec: TuneSpec, trial, run_dir: Path) -> Path | None:
    """Move the run directory of the trial this one re-runs here; the dir to resume, or None."""
    frozen = next(t for t in trial.study.get_trials(deepcopy=False) if t.number == trial.number)
    source = retried_from(frozen)
    if source is None:
        return None
    old = trial_dir(spec.out, source)
    if not old.is_dir() or checkpoint_step(old) is None:
        return None  # died before its first checkpoint: start afresh
    if run_dir.exists():
        shutil.rmtree(run_dir)
    old.rename(run_dir)
    trial.set_user_attr("resumed_from", source)
    return run_dir


def make_objective(spec: TuneSpec, on_start: Callable[[], None] = lambda: None):
    """The function Optuna calls per trial. ``on_start`` runs once the trial exists
    (the worker releases its lock on the study's trial count there)."""
    opt = require_optuna()
    space: SearchSpace = parse_space(spec.space)

    def objective(trial) -> float:
        try:
            return run(trial)
        except opt.TrialPruned:
            raise
        except OSError as e:  # a full disk: not this trial's fault; stop the study
            try:  # the storage may be on the full disk too
                trial.set_user_attr("interrupted", True)  # the next session resumes it
                trial.set_user_attr("error", failure_reason(e))
            except Exception:
                pass
            raise WriteFailed(e) from e
        except Exception as e:  # recorded for the report; Optuna marks the trial failed
            trial.set_user_attr("error", failure_reason(e))
            say(f"trial {trial.number} failed: {failure_reason(e)}")
            raise

    def run(trial) -> float:
        on_start()
        run_dir = trial_dir(spec.out, trial.number)
        values = {p.name: suggest(trial, p) for p in space.params}
        cfg = trial_config(spec, values, run_dir)
        trial.set_user_attr("run_dir", str(run_dir))
        resume = _take_over(spec, trial, run_dir)
        how = "started"
        if resume is not None:
            how = f"resumed from trial {trial.user_attrs['resumed_from']}"
        say(f"trial {trial.number} {how}: {_values(values)} ({run_dir})")
        if resume is None and run_dir.exists():
            if holds_metrics(run_dir):  # tune_cli refuses such a study; never train over it
                raise RuntimeError(
                    f"{run_dir} holds the metrics of a run the study does not record"
                )
            shutil.rmtree(run_dir)  # a stray directory of an attempt that never logged
        returns: list[float] = []
        if resume is not None:
            done = checkpoint_step(resume)
            for step, value in eval_returns(read_metrics(resume)):
                if step <= done:
                    returns.append(value)
                    trial.report(objective_value(returns, spec.objective, spec.last_k), step)
        pruner = Pruner(trial, spec, returns, cfg.steps)
        result = train(cfg, resume=resume, callbacks=[pruner])
        if result.interrupted:
            # Failed for now; the next session of the study resumes it from its checkpoint.
            trial.set_user_attr("interrupted", True)
            say(
                f"trial {trial.number} stopped at env step {result.env_step:,}; it resumes "
                "when the study is run again"
            )
            raise KeyboardInterrupt
        if pruner.pruned_at is not None:
            raise opt.TrialPruned(f"pruned at env step {pruner.pruned_at}")
        value = objective_value(returns, spec.objective, spec.last_k)
        say(f"trial {trial.number} finished: objective {value:.2f}")
        return value

    return objective


class WriteFailed(KeyboardInterrupt):
    """A trial's run could not write (a full disk, a lost mount): the study stops as on
    Ctrl-C, the trial left to resume from its checkpoint. A ``KeyboardInterrupt``
    because Optuna, which catches every ``Exception`` of a trial and goes on to the next
    one (which would fail the same way), fails the trial and re-raises this."""

    def __init__(self, error: OSError):
        super().__init__(str(error))
        self.error = error


def say(line: str) -> None:
    """A line of the study's progress on stdout (a worker's log with several workers)."""
    print(f"[{time.strftime('%H:%M:%S')}] {line}", flush=True)


def _values(values: dict) -> str:
    """A trial's sampled values, ``agent.learning_rate=0.000312, batch_size=64``."""
    shown = {k: f"{v:.3g}" if isinstance(v, float) else str(v) for k, v in values.items()}
    return ", ".join(f"{k}={v}" for k, v in shown.items()) or "no values to sample"


def failure_reason(error: Exception) -> str:
    """One line saying why a trial failed (its exception's first line)."""
    lines = str(error).strip().splitlines()
    return f"{type(error).__name__}: {lines[0] if lines else ''}"[:300]


class Pruner(Callback):
    """Reports each evaluation's objective to the trial; stops a trial Optuna prunes
    (after that evaluation's checkpoint, so nothing of it is lost)."""

    def __init__(self, trial, spec, returns: list[float], budget: int):
        self.trial, self.spec, self.returns, self.budget = trial, spec, returns, budget
        self.pruned_at: int | None = None

    def on_eval(self, env_step: int, mean_return: float) -> bool:
        self.returns.append(mean_return)
        value = objective_value(self.returns, self.spec.objective, self.spec.last_k)
        self.trial.report(value, env_step)
        say(
            f"trial {self.trial.number} eval at env step {env_step:,}/{self.budget:,}: "
            f"return {mean_return:.2f}, objective {value:.2f}"
        )
        if env_step < self.budget and self.trial.should_prune():
            self.pruned_at = env_step
            say(f"trial {self.trial.number} pruned at env step {env_step:,}")
            return True
        return False
