"""The table of benchmarks/dynamics.sh: first vs last value of each norm per config,
the coefficient of variation of the effective learning rate over the second half,
the final return and the probe's overhead. Writes OUT/dynamics.json.

    python benchmarks/dynamics_table.py OUT RUN [RUN ...]
"""

from __future__ import annotations

import json
import os
import sys
import time
from collections import defaultdict
from pathlib import Path

import numpy as np
from throughput import cpu_name  # benchmarks/throughput.py, beside this script

from simbarl.runs.metrics import read_metrics

NORMS = ("feature_norm/total", "param_norm/total", "grad_norm/total", "elr/total", "step/total")


def run_figures(run_dir: Path) -> dict:
    rows = read_metrics(run_dir)
    dyn = [r for r in rows if "dynamics/critic/param_norm/total" in r]
    evals = [r for r in rows if "eval/return" in r]
    out = {"final_return": evals[-1]["eval/return"] if evals else float("nan")}
    for net in ("critic", "actor"):
        for m in NORMS:
            values = [r[f"dynamics/{net}/{m}"] for r in dyn]
            out[f"{net}/{m}/first"], out[f"{net}/{m}/last"] = values[0], values[-1]
        steps = np.array([r["env_step"] for r in dyn])
        half = steps > steps[-1] / 2
        for m in ("elr/total", "step/total"):
            v = np.array([r[f"dynamics/{net}/{m}"] for r in dyn])[half]
            out[f"{net}/{m}/cv_second_half"] = float(v.std() / v.mean()) if len(v) else float("nan")
    seconds_file = run_dir.parent / f"{run_dir.name}.seconds"
    if seconds_file.is_file():
        wall = float(seconds_file.read_text())
        probe = sum(r.get("perf/probe_s", 0.0) for r in dyn)
        out["wall_s"], out["probe_s"] = wall, probe
        out["probe_calls"] = len(dyn)
        out["overhead_pct"] = 100 * probe / wall
    return out


def machine() -> dict:
    """Where the runs were measured: the docs print it beside the table."""
    import jax

    return {
        "machine": cpu_name(),
        "cpu_count": os.cpu_count(),
        "jobs": int(os.environ.get("JOBS", "1")),
        "jax": jax.__version__,
        "date": time.strftime("%Y-%m-%d"),
    }


def main(out: str, runs: list[str]) -> None:
    by_config = defaultdict(list)
    for run in runs:
        cfg = json.loads((Path(run) / "config.json").read_text())
        by_config[cfg["preset"]].append(run_figures(Path(run)))
    setup = {"env": cfg["env"], "steps": cfg["steps"], "runs": [Path(r).name for r in runs]}
    table = {
        preset: {k: float(np.mean([f[k] for f in figs])) for k in figs[0]}
        for preset, figs in by_config.items()
    }
    for preset, figs in by_config.items():
        table[preset]["seeds"] = len(figs)
        table[preset]["final_return_std"] = float(np.std([f["final_return"] for f in figs]))
    off = Path(out) / "simbav2-small-seed0-off.seconds"
    if off.is_file():
        table["off_run_wall_s"] = float(off.read_text())
    result = {
        "meta": {**machine(), **setup},
        "configs": table,
        "per_seed": {p: figs for p, figs in by_config.items()},
    }
    Path(out, "dynamics.json").write_text(json.dumps(result, indent=1) + "\n")
    presets = list(by_config)
    print(f"{'metric (mean over seeds)':40s}" + "".join(f"{p:>22s}" for p in presets))
    for net in ("critic", "actor"):
        for m in NORMS:
            cells = "".join(
                f"{table[p][f'{net}/{m}/first']:>10.4g} -> {table[p][f'{net}/{m}/last']:<9.4g}"
                for p in presets
            )
            print(f"{net + ' ' + m + ' first -> last':40s}{cells}")
        for m in ("elr/total", "step/total"):
            cells = "".join(f"{table[p][f'{net}/{m}/cv_second_half']:>22.3f}" for p in presets)
            print(f"{net + ' ' + m + ' CV, 2nd half':40s}{cells}")
    print(
        f"{'final eval return':40s}"
        + "".join(f"{table[p]['final_return']:>22.1f}" for p in presets)
    )
    if all("overhead_pct" in table[p] for p in presets):
        cells = "".join(
            f"{table[p]['overhead_pct']:>12.2f}% of {table[p]['wall_s']:<6.0f}s" for p in presets
        )
        print(f"{'probe overhead (sum probe_s / wall)':40s}{cells}")
    if "off_run_wall_s" in table:
        print(f"simbav2-small seed 0 with --analyze-every 0: {table['off_run_wall_s']:.0f} s wall")


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2:])
