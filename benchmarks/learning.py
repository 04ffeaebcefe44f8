"""Learning curves: tasks x seeds for a budget, beside the published curves.

Runs (or resumes) one training run per task, algorithm (``--algos``) and seed
under ``--out``, adds every evaluation to ``curves.json`` after each run (curves of
earlier or concurrent invocations with the same preset and budget are kept) and
prints mean +- std over seeds at each evaluation step next to the ``simbaV2_utd2``
row of the published curves at the same env step, or the ``flashsac`` row for
``flashsac`` runs (each entry's ``published_system`` names it; MuJoCo was published on
-v4; DMC env steps include the action repeat of 2, as ours do). A run stopped with
Ctrl-C keeps its checkpoint, stays out of ``curves.json`` and is resumed by the
same command.

    python benchmarks/learning.py --tasks dmc:cartpole-swingup --seeds 0 1 2 \\
        --preset simbav2-small --steps 100000 --out benchmarks/results/learning

``--set KEY=VALUE ...`` changes config fields of every run (dotted, as in ``simbarl
sweep``: ``--set replay.recency_decay_steps=80000``); give each setting its own
``--out``: a ``curves.json`` only merges runs made with the same overrides.

``--width N`` sets the critic width to N and the actor's to N/4 (the published
512/128 ratio) for a width ladder; the runs are labelled PRESET-wN. ``--pause-at S``
stops each run, with its checkpoint, at S env steps (the budget, and so the
learning-rate schedule, stays ``--steps``); the same command with a larger
``--pause-at``, or none, continues it: long runs in pieces. ``--until U`` ends each
run at U env steps and counts it as finished there, its learning-rate schedule still
spanning ``--steps``: ``--steps 1000000 --until 100000`` is the published protocol
(a 1M budget) read at 100k, as the published curves are (runs labelled PRESET-budgetN).

Beside each seed's curve, ``curves.json`` keeps the run's training wall clock to its
end (``runs``: the logged intervals summed, so pieces add up and pauses do not count)
and the CPU and date of the invocation that finished it. A finished run made elsewhere
(a GPU machine, say) and copied into ``--out`` is read back, not trained again;
``--machine "NVIDIA H200 GPU"`` records where it ran, with the date of its metrics.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
import time
from pathlib import Path

import numpy as np

from simbarl.config import apply_overrides, config_from_dict, config_to_dict, preset
from simbarl.files import atomic_open
from simbarl.reference import published_curve
from simbarl.runs import run_dir as rd
from simbarl.runs.metrics import read_metrics, training_seconds
from simbarl.train.run import train

sys.path.insert(0, str(Path(__file__).parent))
from throughput import cpu_name  # noqa: E402


def run_one(cfg, run_dir: Path, until: int | None = None) -> list[tuple[int, float]] | None:
    """Train (or resume, or just read) one run to ``until`` (default ``cfg.steps``); its
    evaluation curve up to there, or None when it stopped before (Ctrl-C, --pause-at): its
    checkpoint stays for the next invocation to resume, and a partial curve must not enter
    the means of ``curves.json``. A run that evaluated at ``until`` is read back whether
    or not it kept its checkpoint (a finished run copied from another machine need not)."""
    end = until or cfg.steps
    resume = run_dir if (run_dir / rd.CHECKPOINT_FILE).is_file() else None
    rows = read_metrics(run_dir)
    finished = any(r["env_step"] == end and "eval/return" in r for r in rows)
    done = end if finished else max((r["env_step"] for r in rows), default=0) if resume else 0
    if cfg.pause_at is not None and cfg.pause_at <= done < end:
        return None  # already paused there: a later piece needs a larger --pause-at
    if done < end:
        stops = [s for s in (cfg.pause_at, end if end < cfg.steps else None) if s is not None]
        cfg = dataclasses.replace(cfg, run_dir=str(run_dir), pause_at=min(stops, default=None))
        result = train(cfg, resume=resume)
        if result.interrupted and result.env_step < end:
            return None
    rows = read_metrics(run_dir)
    return [
        (r["env_step"], r["eval/return"])
        for r in rows
        if "eval/return" in r and r["env_step"] <= end
    ]


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


# the published system each algorithm's curve is printed and stored beside (its name)
PUBLISHED = {"flashsac": ("flashsac", "FlashSAC")}
SIMBAV2 = ("simbaV2_utd2", "SimbaV2 UTD2")


def report(task: str, algo: str, preset_name: str, rows: list) -> None:
    """Print a curve's rows (``curve_rows``) beside the published curve."""
    name = PUBLISHED.get(algo, SIMBAV2)[1]
    print(f"\n{task} {algo} ({preset_name}, {rows[0]['n']} seeds) vs published {name}")
    print(f"{'env_step':>9} {'simbarl':>16} {'published':>16}")
    for r in rows:
        pub = r["published_mean"]
        pub_s = f"{pub:.1f} +- {r['published_std']:.1f}" if pub is not None else "-"
        print(f"{r['env_step']:>9} {r['mean']:>8.1f} +- {r['std']:<5.1f} {pub_s:>16}")


def _matching(path: Path, preset_name: str, steps: int, overrides: list[str] = ()) -> dict:
    """An earlier ``curves.json`` made with the same preset, budget and overrides, or {}."""
    if not path.is_file():
        return {}
    old = json.loads(path.read_text())
    if old.get("preset") != preset_name or old.get("steps") != steps:
        return {}
    if old.get("overrides", []) != list(overrides):
        return {}
    return old


def _earlier(path: Path, preset_name: str, steps: int, overrides: list[str] = ()) -> dict:
    """The per-seed curves of an earlier ``curves.json`` with the same preset and budget,
    so runs made by separate invocations (one algorithm or seed at a time) add up."""
    return _per_seed(_matching(path, preset_name, steps, overrides))


def _per_seed(old: dict, field: str = "per_seed") -> dict:
    """``{task: {algo: {seed: value}}}`` of an earlier ``curves.json``'s ``field``: the
    curves (as lists of ``(env_step, return)``) or the ``runs`` (wall clock, machine)."""
    value = (lambda v: [tuple(p) for p in v]) if field == "per_seed" else dict
    return {
        task: {
            algo: {int(k): value(v) for k, v in entry.get(field, {}).items()}
            for algo, entry in by_algo.items()
        }
        for task, by_algo in old.get("tasks", {}).items()
    }


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--tasks", nargs="+", default=["dmc:cartpole-swingup"])
    p.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2])
    p.add_argument("--preset", default="simbav2-small")
    p.add_argument(
        "--algos",
        "--algo",
        nargs="+",
        default=None,
        help="sac td3 ddpg tqc flashsac (default: the preset's own, sac for simbav2-small)",
    )
    p.add_argument("--steps", type=int, default=100_000)
    p.add_argument("--eval-every", type=int, default=20_000)
    p.add_argument("--width", type=int, default=None, help="critic width; the actor's is 1/4")
    p.add_argument("--pause-at", type=int, default=None, help="stop each run at this env step")
    p.add_argument("--until", type=int, default=None, help="end runs here; lr decay spans --steps")
    p.add_argument("--out", default="benchmarks/results/learning")
    p.add_argument("--progress", action="store_true", help="show each run's progress bar")
    p.add_argument(
        "--machine",
        default=None,
        help="where the runs read back were made, when not here (copied from a GPU machine, "
        "say); recorded beside their wall clock",
    )
    p.add_argument(
        "--set",
        nargs="+",
        default=[],
        metavar="KEY=VALUE",
        help="config overrides for every run, e.g. replay.recency_decay_steps=80000",
    )
    args = p.parse_args()
    if args.width is not None and (args.width < 4 or args.width % 4):
        p.error("--width must be a positive multiple of 4 (the actor gets a quarter)")
    if args.until is not None and not 0 < args.until <= args.steps:
        p.error("--until must be positive and at most --steps")
    label = args.preset if args.width is None else f"{args.preset}-w{args.width}"
    label += "" if args.until is None else f"-budget{args.steps}"
    end = args.until or args.steps
    args.algos = args.algos or [preset(args.preset).algo]

    out = Path(args.out)
    ours: dict = {}  # the curves this invocation ran, merged into curves.json after each run
    runs: dict = {}  # their wall clock, and the machine where this invocation finished one
    started = time.time()
    for task in args.tasks:
        for algo in args.algos:
            for seed in args.seeds:
                cfg = dataclasses.replace(
                    with_width(preset(args.preset), args.width),
                    env=task,
                    algo=algo,
                    seed=seed,
                    steps=args.steps,
                    eval_every=args.eval_every,
                    pause_at=args.pause_at,
                    progress=args.progress,
                )
                if args.set:
                    cfg = config_from_dict(apply_overrides(config_to_dict(cfg), args.set))
                prefix = "" if algo == "sac" else f"{algo}-"
                run_dir = out / task.replace(":", "-") / f"{prefix}{label}-seed{seed}"
                t0 = time.time()
                before = max((r["env_step"] for r in read_metrics(run_dir)), default=0)
                curve = run_one(cfg, run_dir, args.until)
                if curve is None:
                    print(
                        f"{task} {algo} seed {seed}: stopped before {end} steps "
                        f"({time.time() - t0:.0f} s this piece); not added to curves.json (run "
                        f"again, with a larger --pause-at or none, to resume from {run_dir})",
                        flush=True,
                    )
                    sys.exit(130)
                ours.setdefault(task, {}).setdefault(algo, {})[seed] = curve
                info = {"train_seconds": round(training_seconds(read_metrics(run_dir), end), 1)}
                if before < end:  # finished here, not only read back
                    info.update(machine=cpu_name(), date=time.strftime("%Y-%m-%d"))
                elif args.machine:  # read back, made elsewhere: its date is its last write
                    made = (run_dir / "metrics.jsonl").stat().st_mtime
                    info.update(
                        machine=args.machine, date=time.strftime("%Y-%m-%d", time.gmtime(made))
                    )
                runs.setdefault(task, {}).setdefault(algo, {})[seed] = info
                print(
                    f"{task} {algo} seed {seed}: {curve[-1][1]:.1f} ({time.time() - t0:.0f} s)",
                    flush=True,
                )
                summary = write_curves(out, label, end, ours, time.time() - started, args.set, runs)
    if not ours:  # nothing ran: rewrite the summary of what is there
        summary = write_curves(out, label, end, ours, time.time() - started, args.set, runs)
    for task, entry in summary["tasks"].items():
        for algo, by_algo in entry.items():
            report(task, algo, label, by_algo["curve"])
    print(f"\nwrote {out / 'curves.json'} ({summary['wall_clock_s'] / 60:.1f} min)")


def with_width(cfg, width: int | None):
    """``cfg`` with critic width ``width`` and actor width ``width // 4``; None: as is."""
    if width is None:
        return cfg
    agent = cfg.agent
    agent = dataclasses.replace(
        agent,
        actor=dataclasses.replace(agent.actor, width=width // 4),
        critic=dataclasses.replace(agent.critic, width=width),
    )
    return dataclasses.replace(cfg, agent=agent)


def write_curves(
    out: Path,
    preset_name: str,
    steps: int,
    ours: dict,
    wall_s: float,
    overrides=(),
    runs: dict | None = None,
) -> dict:
    """Merge ``ours`` (and ``runs``, their wall clock and machine) into ``out/curves.json``
    as it is on disk now and write it atomically.

    Re-reading before each write lets several invocations (one per algorithm or seed, run
    side by side) share one file, and writing after each run keeps finished runs when a
    later one is interrupted."""
    path = out / "curves.json"
    old = _matching(path, preset_name, steps, overrides)
    curves, infos = _per_seed(old), _per_seed(old, "runs")
    for task, by_algo in ours.items():
        for algo, by_seed in by_algo.items():
            curves.setdefault(task, {}).setdefault(algo, {}).update(by_seed)
    for task, by_algo in (runs or {}).items():
        for algo, by_seed in by_algo.items():
            kept = infos.setdefault(task, {}).setdefault(algo, {})
            for seed, info in by_seed.items():  # a run only read back keeps its machine
                kept[seed] = {**kept.get(seed, {}), **info}
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
        for algo, by_seed in by_algo.items():
            system = PUBLISHED.get(algo, SIMBAV2)[0]
            summary["tasks"].setdefault(task, {})[algo] = {
                "published_system": system,
                "curve": curve_rows(by_seed, published_curve(task, system=system)),
                "per_seed": {str(k): v for k, v in sorted(by_seed.items())},
                "runs": {
                    str(k): v
                    for k, v in sorted(infos.get(task, {}).get(algo, {}).items())
                    if k in by_seed
                },
            }
    with atomic_open(path) as f:
        f.write(json.dumps(summary, indent=2))
    return summary


if __name__ == "__main__":
    main()
