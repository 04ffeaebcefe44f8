"""Learning curves: tasks x seeds for a budget, beside the published SimbaV2 curves.

Runs (or resumes) one training run per task, algorithm (``--algos``) and seed
under ``--out``, adds every evaluation to ``curves.json`` after each run (curves of
earlier or concurrent invocations with the same preset and budget are kept) and
prints mean +- std over seeds at each evaluation step next to the ``simbaV2_utd2``
row of the published curves at the same env step (MuJoCo was published on -v4;
DMC env steps include the action repeat of 2, as ours do). A run stopped with
Ctrl-C keeps its checkpoint, stays out of ``curves.json`` and is resumed by the
same command.

    python benchmarks/learning.py --tasks dmc:cartpole-swingup --seeds 0 1 2 \\
        --preset simbav2-small --steps 100000 --out benchmarks/results/learning

``--set KEY=VALUE ...`` changes config fields of every run (dotted, as in ``simbarl
sweep``: ``--set replay.recency_decay_steps=80000``); give each setting its own
``--out``: a ``curves.json`` only merges runs made with the same overrides.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
import time
from pathlib import Path

import numpy as np

from simbarl.config import preset
from simbarl.files import atomic_open
from simbarl.reference import published_curve
from simbarl.sweep.spec import apply_overrides
from simbarl.train import run_dir as rd
from simbarl.train.logger import read_metrics
from simbarl.train.run import train


def run_one(cfg, run_dir: Path) -> list[tuple[int, float]] | None:
    """Train (or resume, or just read) one run; its evaluation curve, or None when the run
    stopped before ``cfg.steps`` (Ctrl-C): its checkpoint stays for the next invocation to
    resume, and a partial curve must not enter the means of ``curves.json``."""
    resume = run_dir if (run_dir / rd.CHECKPOINT_FILE).is_file() else None
    done = max((r["env_step"] for r in read_metrics(run_dir)), default=0) if resume else 0
    if done < cfg.steps:
        result = train(dataclasses.replace(cfg, run_dir=str(run_dir)), resume=resume)
        if result.interrupted:
            return None
    return [(r["env_step"], r["eval/return"]) for r in read_metrics(run_dir) if "eval/return" in r]


def curve_rows(by_seed: dict, published: dict) -> list:
    """Mean +- std over seeds at each evaluation step, beside the published curve."""
    rows = []
    for step in sorted({s for c in by_seed.values() for s, _ in c}):
        vals = [r for c in by_seed.values() for s, r in c if s == step]
        pub = published.get(step)
        rows.append(
            {
                "env_step": step,
                "mean": float(np.mean(vals)),
                "std": float(np.std(vals)),
                "n": len(vals),
                "published_mean": pub[0] if pub else None,
                "published_std": pub[1] if pub else None,
            }
        )
    return rows


def report(task: str, algo: str, preset_name: str, rows: list) -> None:
    """Print a curve's rows (``curve_rows``) beside the published curve."""
    print(f"\n{task} {algo} ({preset_name}, {rows[0]['n']} seeds) vs published SimbaV2 UTD2")
    print(f"{'env_step':>9} {'simbarl':>16} {'published':>16}")
    for r in rows:
        pub = r["published_mean"]
        pub_s = f"{pub:.1f} +- {r['published_std']:.1f}" if pub is not None else "-"
        print(f"{r['env_step']:>9} {r['mean']:>8.1f} +- {r['std']:<5.1f} {pub_s:>16}")


def _earlier(path: Path, preset_name: str, steps: int, overrides: list[str] = ()) -> dict:
    """The per-seed curves of an earlier ``curves.json`` with the same preset and budget,
    so runs made by separate invocations (one algorithm or seed at a time) add up."""
    if not path.is_file():
        return {}
    old = json.loads(path.read_text())
    if old.get("preset") != preset_name or old.get("steps") != steps:
        return {}
    if old.get("overrides", []) != list(overrides):
        return {}
    return {
        task: {
            algo: {int(k): [tuple(p) for p in v] for k, v in entry["per_seed"].items()}
            for algo, entry in by_algo.items()
        }
        for task, by_algo in old.get("tasks", {}).items()
    }


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--tasks", nargs="+", default=["dmc:cartpole-swingup"])
    p.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2])
    p.add_argument("--preset", default="simbav2-small")
    p.add_argument("--algos", "--algo", nargs="+", default=["sac"], help="sac td3 ddpg tqc")
    p.add_argument("--steps", type=int, default=100_000)
    p.add_argument("--eval-every", type=int, default=20_000)
    p.add_argument("--out", default="benchmarks/results/learning")
    p.add_argument("--progress", action="store_true", help="show each run's progress bar")
    p.add_argument(
        "--set",
        nargs="+",
        default=[],
        metavar="KEY=VALUE",
        help="config overrides for every run, e.g. replay.recency_decay_steps=80000",
    )
    args = p.parse_args()

    out = Path(args.out)
    ours: dict = {}  # the curves this invocation ran, merged into curves.json after each run
    started = time.time()
    for task in args.tasks:
        for algo in args.algos:
            for seed in args.seeds:
                cfg = dataclasses.replace(
                    preset(args.preset),
                    env=task,
                    algo=algo,
                    seed=seed,
                    steps=args.steps,
                    eval_every=args.eval_every,
                    progress=args.progress,
                )
                if args.set:
                    cfg = rd.config_from_dict(apply_overrides(rd.config_to_dict(cfg), args.set))
                prefix = "" if algo == "sac" else f"{algo}-"
                run_dir = out / task.replace(":", "-") / f"{prefix}{args.preset}-seed{seed}"
                t0 = time.time()
                curve = run_one(cfg, run_dir)
                if curve is None:
                    print(
                        f"{task} {algo} seed {seed}: stopped before {args.steps} steps; not "
                        f"added to curves.json (run again to resume from {run_dir})",
                        flush=True,
                    )
                    sys.exit(130)
                ours.setdefault(task, {}).setdefault(algo, {})[seed] = curve
                print(
                    f"{task} {algo} seed {seed}: {curve[-1][1]:.1f} ({time.time() - t0:.0f} s)",
                    flush=True,
                )
                summary = write_curves(
                    out, args.preset, args.steps, ours, time.time() - started, args.set
                )
    if not ours:  # nothing ran: rewrite the summary of what is there
        summary = write_curves(out, args.preset, args.steps, ours, time.time() - started, args.set)
    for task, entry in summary["tasks"].items():
        for algo, by_algo in entry.items():
            report(task, algo, args.preset, by_algo["curve"])
    print(f"\nwrote {out / 'curves.json'} ({summary['wall_clock_s'] / 60:.1f} min)")


def write_curves(
    out: Path, preset_name: str, steps: int, ours: dict, wall_s: float, overrides=()
) -> dict:
    """Merge ``ours`` into ``out/curves.json`` as it is on disk now and write it atomically.

    Re-reading before each write lets several invocations (one per algorithm or seed, run
    side by side) share one file, and writing after each run keeps finished runs when a
    later one is interrupted."""
    path = out / "curves.json"
    curves = _earlier(path, preset_name, steps, overrides)
    for task, by_algo in ours.items():
        for algo, by_seed in by_algo.items():
            curves.setdefault(task, {}).setdefault(algo, {}).update(by_seed)
    summary = {
        "preset": preset_name,
        "algos": sorted({a for by_algo in curves.values() for a in by_algo}),
        "steps": steps,
        "overrides": list(overrides),
        "seeds": sorted({k for t in curves.values() for a in t.values() for k in a}),
        "wall_clock_s": wall_s,
        "tasks": {},
    }
    for task, by_algo in curves.items():
        published = published_curve(task)
        for algo, by_seed in by_algo.items():
            summary["tasks"].setdefault(task, {})[algo] = {
                "curve": curve_rows(by_seed, published),
                "per_seed": {str(k): v for k, v in sorted(by_seed.items())},
            }
    with atomic_open(path) as f:
        f.write(json.dumps(summary, indent=2))
    return summary


if __name__ == "__main__":
    main()
