"""Add the official FlashSAC results to the package's published curves.

Reads the per-seed result files released with FlashSAC (Kim, Lee et al. 2026, arXiv
2604.04539; ``stateRL_cpusim_FlashSAC.csv`` and ``stateRL_gpusim_FlashSAC.csv``,
columns ``exp_name, env_name, seed, metric, env_step, value``), reduces each task,
metric and env step to the mean and standard deviation over seeds (population, as
``benchmarks/learning.py``'s curves) and writes them into
``simbarl/data/published_curves.csv`` as system ``flashsac`` (rows of that system
already there are replaced; every other row is kept as it is). ``avg_success`` rows are
kept only for tasks where some seed succeeded (the MuJoCo and DMC tasks record zeros).

    python benchmarks/published_flashsac.py stateRL_cpusim_FlashSAC.csv

Then ``simbarl.reference.published_curve("HalfCheetah-v4", system="flashsac")`` is the
published FlashSAC curve (a point every 100k env steps). The package holds the CPU
simulators' file only: every published curve it ships names one of simbarl's benchmark
tasks (``tests/test_benchmark_tasks.py``), and the GPU file's IsaacLab, ManiSkill and
Genesis tasks are not among them.
"""

from __future__ import annotations

import argparse
import csv
import statistics
from collections import defaultdict
from pathlib import Path

from simbarl.files import atomic_open

SYSTEM = "flashsac"
TABLE = Path(__file__).resolve().parents[1] / "simbarl" / "data" / "published_curves.csv"
FIELDS = ["system", "task", "metric", "env_step", "mean", "std", "n_seeds"]


def reduce(paths: list[Path]) -> list[dict]:
    """The ``flashsac`` rows of the given per-seed result files, in task, metric, step order."""
    values: dict[tuple[str, str, int], dict[str, float]] = defaultdict(dict)
    for path in paths:
        with path.open() as f:
            for r in csv.DictReader(f):
                if r["exp_name"] != "FlashSAC":
                    raise ValueError(f"{path}: unexpected exp_name {r['exp_name']!r}")
                key = (r["env_name"], r["metric"], int(float(r["env_step"])))
                if r["seed"] in values[key]:
                    raise ValueError(f"{path}: {key} seed {r['seed']} appears twice")
                values[key][r["seed"]] = float(r["value"])
    succeeded = {task for (task, metric, _), v in values.items() if metric == "avg_success"
                 and any(x > 0 for x in v.values())}  # fmt: skip
    rows = []
    for (task, metric, step), by_seed in sorted(values.items()):
        if metric == "avg_success" and task not in succeeded:
            continue
        vals = list(by_seed.values())
        rows.append(
            {
                "system": SYSTEM,
                "task": task,
                "metric": metric,
                "env_step": step,
                "mean": f"{statistics.fmean(vals):.6g}",
                "std": f"{statistics.pstdev(vals):.6g}",
                "n_seeds": len(vals),
            }
        )
    return rows


def write(rows: list[dict], table: Path = TABLE) -> int:
    """Replace the ``flashsac`` rows of ``table`` with ``rows``; how many rows were kept."""
    with table.open(newline="") as f:
        ending = "\r\n" if f.readline().endswith("\r\n") else "\n"  # keep the file's own
        f.seek(0)
        kept = [r for r in csv.DictReader(f) if r["system"] != SYSTEM]
    with atomic_open(table, newline="") as f:
        out = csv.DictWriter(f, FIELDS, lineterminator=ending)
        out.writeheader()
        out.writerows(kept + rows)
    return len(kept)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("files", nargs="+", type=Path, help="stateRL_*_FlashSAC.csv")
    p.add_argument("--table", type=Path, default=TABLE)
    args = p.parse_args()
    rows = reduce(args.files)
    kept = write(rows, args.table)
    tasks = len({r["task"] for r in rows})
    print(f"{args.table}: {kept} rows kept, {len(rows)} {SYSTEM} rows over {tasks} tasks")


if __name__ == "__main__":
    main()
