"""A study's results: the best config, the top trials, importances and plots.

Written to OUT/report/ at the end of ``simbarl tune`` and by ``simbarl tune --report
OUT`` at any time (also while workers run: it reads the storage, changes nothing).
``best_config.json`` is a full config that ``simbarl train --config`` and
``simbarl sweep --config`` take.
"""

from __future__ import annotations

import json
import warnings
from pathlib import Path

from simbarl.config import apply_values
from simbarl.tune.storage import require_optuna
from simbarl.tune.study import TuneSpec


def best_config(spec: TuneSpec, params: dict) -> dict:
    """The base config with the best trial's values: a config file for train and sweep."""
    d = apply_values(spec.base, params)
    d["run_dir"] = None
    return d


def _fmt(v) -> str:
    return f"{v:.4g}" if isinstance(v, float) else str(v)


def trials_table(study, top: int = 10) -> str:
    """Counts by state and the ``top`` finished trials by value, with their parameters."""
    opt = require_optuna()
    trials = study.get_trials(deepcopy=False)
    counts: dict[str, int] = {}
    for t in trials:
        counts[t.state.name.lower()] = counts.get(t.state.name.lower(), 0) + 1
    lines = [f"{len(trials)} trials: " + ", ".join(f"{n} {k}" for k, n in sorted(counts.items()))]
    done = [t for t in trials if t.state == opt.trial.TrialState.COMPLETE]
    done.sort(key=lambda t: t.value, reverse=True)
    if not done:
        return lines[0]
    names = sorted({k for t in done for k in t.params})
    lines.append(f"top {min(top, len(done))} by objective:")
    lines.append(f"{'trial':>5s} {'value':>10s}  " + "  ".join(names))
    for t in done[:top]:
        cells = "  ".join(f"{_fmt(t.params.get(n, '-')):>{len(n)}s}" for n in names)
        lines.append(f"{t.number:>5d} {t.value:>10.2f}  {cells}")
    return "\n".join(lines)


def importances(study) -> dict[str, float] | None:
    """Optuna's parameter importances (fANOVA), or None with too few finished trials."""
    opt = require_optuna()
    done = study.get_trials(deepcopy=False, states=(opt.trial.TrialState.COMPLETE,))
    if len(done) < 2:
        return None
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # "too few trials": the table says how many there are
        try:
            return dict(opt.importance.get_param_importances(study))
        except (ValueError, RuntimeError):  # e.g. every trial has the same values
            return None


def _plots(study, out: Path) -> list[Path]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    opt = require_optuna()
    written = []
    if len(study.get_trials(deepcopy=False, states=(opt.trial.TrialState.COMPLETE,))) < 2:
        return written  # a history of one point, importances of nothing
    plots = {
        "optimization_history": opt.visualization.matplotlib.plot_optimization_history,
        "param_importances": opt.visualization.matplotlib.plot_param_importances,
    }
    for name, plot in plots.items():
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # optuna's matplotlib plots are "experimental"
            try:
                ax = plot(study)
            except (ValueError, RuntimeError):  # importances need two finished trials
                continue
        fig = ax.figure if hasattr(ax, "figure") else ax.flat[0].figure
        fig.set_size_inches(8, 5)
        fig.tight_layout()
        for ext in ("png", "svg"):
            fig.savefig(out / f"{name}.{ext}")
            written.append(out / f"{name}.{ext}")
        plt.close(fig)
    return written


def write_report(spec: TuneSpec, study, top: int = 10) -> str:
    """Write OUT/report/ (and OUT/best_config.json); return the text summary."""
    opt = require_optuna()
    out = Path(spec.out) / "report"
    out.mkdir(parents=True, exist_ok=True)
    table = trials_table(study, top)
    done = [t for t in study.get_trials(deepcopy=False) if t.state == opt.trial.TrialState.COMPLETE]
    lines = [f"study {spec.study_name} in {spec.storage} ({spec.objective} return)", table]
    if done:
        best = study.best_trial
        cfg = best_config(spec, best.params)
        text = json.dumps(cfg, indent=2) + "\n"
        (out / "best_config.json").write_text(text)
        (Path(spec.out) / "best_config.json").write_text(text)
        lines += [
            f"best: trial {best.number}, value {best.value:.2f}, "
            f"run {best.user_attrs.get('run_dir')}",
            *(f"  {k} = {_fmt(v)}" for k, v in best.params.items()),
            f"best config: {Path(spec.out) / 'best_config.json'} "
            f"(simbarl train --config {Path(spec.out) / 'best_config.json'})",
        ]
    imp = importances(study)
    if imp:
        (out / "importances.json").write_text(json.dumps(imp, indent=1) + "\n")
        lines.append("importances: " + ", ".join(f"{k} {v:.2f}" for k, v in imp.items()))
    plots = _plots(study, out)
    if plots:
        lines.append(f"plots: {', '.join(str(p) for p in plots)}")
    summary = "\n".join(lines)
    (out / "report.txt").write_text(summary + "\n")
    return summary
