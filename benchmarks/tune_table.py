"""Summarize a benchmarks/tune_cartpole.sh run into OUT/tune_cartpole.json and print it.

    python benchmarks/tune_table.py benchmarks/results/tune_cartpole

What it records: the machine and date; the study's settings; the wall clock of the
interrupted session and of the resumed one; every trial (number, state, objective,
the env step it stopped at, which trial it resumes, its parameters and duration);
the trial numbering before and after the interruption; and the final evaluation
returns of the confirmation runs (the default config and the best config at the
same budget, on other seeds).
"""

from __future__ import annotations

import json
import os
import re
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from throughput import cpu_name  # noqa: E402

from simbarl.runs.metrics import read_metrics  # noqa: E402
from simbarl.tune.objective import eval_returns  # noqa: E402
from simbarl.tune.storage import quiet_optuna, require_optuna, retried_from  # noqa: E402
from simbarl.tune.study import TuneSpec, open_study  # noqa: E402


def _seconds(path: Path) -> float | None:
    return float(path.read_text()) if path.is_file() else None


def _trials(study) -> list[dict]:
    rows = []
    for t in study.get_trials(deepcopy=False):
        end = t.datetime_complete
        rows.append(
            {
                "number": t.number,
                # a trial stopped by Ctrl-C is FAIL in Optuna; a later trial resumes it
                "state": "interrupted" if t.user_attrs.get("interrupted") else t.state.name.lower(),
                "value": t.value,
                "last_step": max(t.intermediate_values, default=None),
                "evaluations": {str(k): v for k, v in sorted(t.intermediate_values.items())},
                "resumes": retried_from(t),
                "params": t.params,
                "seconds": (end - t.datetime_start).total_seconds()
                if end and t.datetime_start
                else None,
            }
        )
    return rows


def _confirm(out: Path) -> dict:
    runs: dict[str, list[dict]] = {}
    for run in sorted((out / "confirm").glob("*-seed*")):
        if not run.is_dir():
            continue
        name, seed = run.name.rsplit("-seed", 1)
        evals = eval_returns(read_metrics(run))
        runs.setdefault(name, []).append(
            {
                "seed": int(seed),
                "evaluations": {str(s): r for s, r in evals},
                "final": evals[-1][1] if evals else None,
                "seconds": _seconds(out / "confirm" / f"{run.name}.seconds"),
            }
        )
    return runs


def _mean_std(xs: list[float]) -> tuple[float, float]:
    m = sum(xs) / len(xs)
    return m, (sum((x - m) ** 2 for x in xs) / len(xs)) ** 0.5


def main(out: Path) -> dict:
    quiet_optuna()
    opt = require_optuna()
    spec = TuneSpec.load(out / "study")
    study = open_study(spec)
    trials = _trials(study)
    first = [t for t in trials if t["state"] != "waiting"]
    complete = [t for t in trials if t["state"] == "complete"]
    best = study.best_trial if complete else None
    log2 = (out / "study-2.log").read_text().splitlines() if (out / "study-2.log").is_file() else []
    resume_line = next((ln for ln in log2 if "trials so far" in ln), None)
    workers = re.search(r"(\d+) worker\(s\)", resume_line or "")
    import jax

    result = {
        "meta": {
            "machine": cpu_name(),
            "cpu_count": os.cpu_count(),
            "jax": jax.__version__,
            "optuna": opt.__version__,
            "date": time.strftime("%Y-%m-%d"),
        },
        "env": spec.base["env"],
        "preset": spec.base["preset"],
        "steps": spec.base["steps"],
        "eval_every": spec.base["eval_every"],
        "trials_target": spec.trials,
        "sampler": spec.sampler,
        "pruner": spec.pruner,
        "objective": spec.objective,
        "space": spec.space,
        "wall_interrupted_s": _seconds(out / "interrupted.seconds"),
        "wall_resumed_s": _seconds(out / "resumed.seconds"),
        "workers": int(workers.group(1)) if workers else None,
        "resume_line": resume_line,
        "counts": {
            s: sum(t["state"] == s for t in first) for s in sorted({t["state"] for t in first})
        },
        # env steps trained, each interrupted trial counted in the trial that resumed it
        "env_steps_trained": sum(t["last_step"] or 0 for t in first if t["state"] != "interrupted"),
        "pruned_at": sorted(t["last_step"] for t in trials if t["state"] == "pruned"),
        "best": None
        if best is None
        else {"number": best.number, "value": best.value, "params": best.params},
        "trials": trials,
        "confirm": _confirm(out),
    }
    (out / "tune_cartpole.json").write_text(json.dumps(result, indent=1) + "\n")
    walls = [w for w in (result["wall_interrupted_s"], result["wall_resumed_s"]) if w]
    interrupted = result["counts"].get("interrupted", 0)
    print(
        f"{result['env']}, {result['preset']}: {len(first) - interrupted} trials "
        f"(+{interrupted} interrupted and resumed) of {result['steps']} env steps "
        f"in {sum(walls) / 60:.0f} min ({', '.join(f'{w / 60:.0f}' for w in walls)} min sessions); "
        f"{result['counts']}; pruned at {result['pruned_at']}"
    )
    if best is not None:
        print(f"best: trial {best.number}, {best.value:.1f}")
    for name, runs in result["confirm"].items():
        finals = [r["final"] for r in runs if r["final"] is not None]
        if finals:
            m, s = _mean_std(finals)
            print(
                f"{name} config, seeds {[r['seed'] for r in runs]}: {m:.1f} +- {s:.1f} "
                f"({', '.join(f'{f:.1f}' for f in finals)})"
            )
    return result


if __name__ == "__main__":
    main(Path(sys.argv[1] if len(sys.argv) > 1 else "benchmarks/results/tune_cartpole"))
