"""``simbarl sweep`` and ``simbarl scores``."""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import sys
import time
from pathlib import Path

SWEEP_HELP = """\
Run tasks x configs x seeds, each a full training run with its own run directory
OUT/<task>/<label>/seed<k>, then collect every evaluation into OUT/results.csv
(system,task,metric,env_step,value,seed) and print per-task and aggregate tables.

Re-running the same command resumes: finished runs are skipped and interrupted
ones continue from their checkpoints. A failed run is reported with its error
and does not stop the others. A run with evaluations but no readable checkpoint
to extend (deleted or damaged) is never deleted: it is reported as kept until
--restart names it. A run another process is training is left alone. The exit
status is 0 only when every run reached its end: 1 when one failed or is left
kept or running, 130 when interrupted.

examples:
  simbarl sweep --tasks dmc-em --seeds 3 --steps 100000
  simbarl sweep --tasks HalfCheetah-v4 dmc:cheetah-run --config simbav2-small \\
      --config td3=simbav2-small:algo=td3 --seeds 5 --out runs/algos
  simbarl sweep --tasks all --seeds 10 --config simbav2 --backend ray --address auto
  simbarl sweep --tasks dmc-em --seeds 3 --config simbav2-small --steps 1000000 \\
      --until 100000    # the published 1M-step schedule, read at 100k

tasks: a group (mujoco, dmc-em, dmc-hard, myosuite, humanoid_bench), a suite (dmc),
'all', or task ids (any id simbarl train takes); suites not installed are skipped.
config: [LABEL=]BASE[:KEY=VALUE,...], BASE a preset or a JSON file of config fields,
e.g. 'wide=simbav2-small:agent.critic.width=256,updates_per_step=1'.
"""


def _sweep_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="simbarl sweep",
        description=SWEEP_HELP,
        formatter_class=argparse.RawDescriptionHelpFormatter,
        allow_abbrev=False,  # never take a config field's flag for an abbreviation of ours
    )
    p.add_argument("--tasks", nargs="+", required=True, help="groups, suites or task ids")
    p.add_argument("--seeds", type=int, default=3, help="seeds per task and config (default 3)")
    p.add_argument("--first-seed", type=int, default=0, help="seeds are first..first+N-1")
    p.add_argument(
        "--config",
        action="append",
        default=None,
        metavar="SPEC",
        help="a config to run (repeat for several; default simbav2-small)",
    )
    p.add_argument(
        "--set",
        nargs="+",
        default=[],
        metavar="KEY=VALUE",
        help="fields set in every config, e.g. eval_every=20000 agent.critic.width=256; "
        "simbarl train's flags of fields sweep has no flag of its own do the same "
        "(--agent.critic.width 256, --eval-every 20000)",
    )
    p.add_argument("--steps", type=int, default=None, help="env-step budget of every run")
    p.add_argument(
        "--until",
        type=int,
        default=None,
        metavar="STEP",
        help="end every run at this env step and count it finished there; the "
        "learning-rate schedule still spans --steps (--steps 1000000 --until 100000: "
        "the published protocol read at 100k; the same sweep without --until later "
        "continues the runs to the budget)",
    )
    p.add_argument("--out", default="runs/sweep", help="sweep directory (default runs/sweep)")
    p.add_argument("--backend", choices=("local", "ray"), default="local")
    p.add_argument(
        "--workers",
        type=int,
        default=None,
        help="local backend: runs at once (default: one per CPU core, at most the runs left)",
    )
    p.add_argument(
        "--address",
        default=None,
        help="ray backend: the cluster to join ('auto', or ray://HOST:10001); "
        "default: RAY_ADDRESS, else a Ray instance on this machine",
    )
    p.add_argument("--cpus-per-run", type=float, default=1.0, help="ray: CPUs per run")
    p.add_argument("--gpus-per-run", type=float, default=0.0, help="ray: GPUs (or a fraction)")
    p.add_argument("--step", type=int, default=None, help="tables at this env step (default last)")
    p.add_argument(
        "--dry-run", action="store_true", help="list the runs and their state, then stop"
    )
    p.add_argument(
        "--restart",
        nargs="+",
        default=[],
        metavar="RUN",
        help="run directories to train again from zero although they hold results "
        "(runs reported as kept)",
    )
    return p


def sweep_cli(argv: list[str]) -> int:
    from simbarl.config import config_flags, parse_config
    from simbarl.sweep import runner
    from simbarl.sweep.results import format_tables
    from simbarl.sweep.spec import expand, resolve_tasks

    p = _sweep_parser()
    args, unknown = p.parse_known_args(argv)
    try:
        overrides, unknown = config_flags(unknown)
    except ValueError as e:
        p.error(str(e))
    if unknown:
        p.error(f"unrecognized arguments: {' '.join(unknown)}")
    if args.seeds < 1:
        p.error("--seeds must be at least 1")
    if args.workers is not None and args.workers < 1:
        p.error("--workers must be at least 1")
    if args.until is not None and args.until < 1:
        p.error("--until must be positive")
    common = [*args.set, *overrides, *([f"steps={args.steps}"] if args.steps else [])]
    common += [f"pause_at={args.until}"] if args.until else []
    try:
        tasks, skipped = resolve_tasks(args.tasks)
        configs = [parse_config(c, common) for c in args.config or ["simbav2-small"]]
        for label, d in configs:
            if args.until and args.until > d["steps"]:
                raise ValueError(
                    f"--until {args.until:,} is past the budget of config {label!r} "
                    f"({d['steps']:,} env steps): give --steps at least {args.until:,}"
                )
        seeds = list(range(args.first_seed, args.first_seed + args.seeds))
        specs = _earlier_labels(expand(tasks, configs, seeds, args.out), Path(args.out))
        specs = _mark_restarts(specs, args.restart)
    except ValueError as e:
        print(f"simbarl sweep: error: {e}", file=sys.stderr)
        return 2
    if skipped:
        print(f"skipping {len(skipped)} tasks whose suite is not installed: {', '.join(skipped)}")
    if not specs:
        print("simbarl sweep: error: no tasks to run", file=sys.stderr)
        return 2
    states = [runner.status(s) for s in specs]
    counts = {k: states.count(k) for k in ("done", "resume", "new", "restart", "kept", "running")}
    left_alone = "".join(f", {counts[k]} {k}" for k in ("restart", "kept", "running") if counts[k])
    print(
        f"sweep {args.out}: {len(tasks)} tasks x {len(configs)} configs x {len(seeds)} seeds "
        f"= {len(specs)} runs ({counts['done']} finished, {counts['resume']} to resume, "
        f"{counts['new']} new{left_alone})"
    )
    for s, st in zip(specs, states, strict=True):
        note = runner.explain(s, st)
        if args.dry_run or note:
            print(f"  {st:7s} {s.run_dir}" + (f": {note}" if note else ""))
    if args.dry_run:
        return 0
    out = Path(args.out)
    problem = _unwritable(out, {"argv": argv, "runs": [dataclasses.asdict(s) for s in specs]})
    if problem:
        print(f"simbarl sweep: error: {problem}", file=sys.stderr)
        return 2
    outcomes = _run(args, specs, len(specs) - counts["done"] - counts["kept"])
    rows = [r for o in outcomes for r in o.rows]
    if rows:
        table = format_tables(rows, args.step)
        (out / "scores.txt").write_text(table + "\n")
        print(f"\n{table}\n\nresults: {out / 'results.csv'}, tables: {out / 'scores.txt'}")
    failed = [o for o in outcomes if o.state == "failed"]
    for o in failed:
        print(f"\nFAILED {o.spec.name}: {o.error}", file=sys.stderr)
    if any(o.state in ("interrupted", "not started") for o in outcomes):
        print(f"interrupted: re-run the same command to resume ({args.out})", file=sys.stderr)
        return 130
    left = [o.state for o in outcomes if o.state in ("kept", "running")]
    if left:  # the sweep is not finished: say so in its exit status too
        counts = ", ".join(f"{left.count(k)} {k}" for k in ("kept", "running") if k in left)
        print(
            f"simbarl sweep: {len(left)} of {len(specs)} runs left unfinished ({counts}, listed "
            "above): re-run the same command once the running ones have stopped, with "
            "--restart for the kept ones you want trained again",
            file=sys.stderr,
        )
        return 1
    return 1 if failed else 0


def _unwritable(out: Path, record: dict) -> str | None:
    """Write ``OUT/sweep.json``, or say why ``--out`` cannot hold the sweep."""
    if out.exists() and not out.is_dir():
        return f"--out {out} is a file, not a directory: choose another --out"
    try:
        out.mkdir(parents=True, exist_ok=True)
        (out / "sweep.json").write_text(json.dumps(record, indent=1))
    except OSError as e:
        return f"cannot write to --out {out} ({e.strerror or e}): choose a writable directory"
    return None


def _earlier_labels(specs: list, out: Path) -> list:
    """The specs, each under the label and run directory ``OUT/sweep.json`` gave the same
    run (task, seed and config) before, if another: a sweep started before its ``--set``
    fields were part of its labels goes on in its own directories."""
    try:
        earlier = json.loads((out / "sweep.json").read_text())["runs"]
    except (OSError, ValueError, KeyError, TypeError):
        return specs

    def key(task, seed, config) -> str:
        return json.dumps(
            [task, seed, {k: v for k, v in config.items() if k != "run_dir"}], sort_keys=True
        )

    before = {key(r["task"], r["seed"], r["config"]): r for r in earlier if "config" in r}
    out_specs = []
    for s in specs:
        r = before.get(key(s.task, s.seed, s.config))
        if r is not None and r["label"] != s.label:
            config = {**s.config, "run_dir": r["run_dir"]}
            s = dataclasses.replace(s, label=r["label"], run_dir=r["run_dir"], config=config)
        out_specs.append(s)
    return out_specs


def _mark_restarts(specs: list, restart: list[str]) -> list:
    """The specs with ``restart`` set on those whose run directory ``--restart`` names."""
    wanted = {Path(r).resolve() for r in restart}
    unknown = wanted - {Path(s.run_dir).resolve() for s in specs}
    if unknown:
        raise ValueError(
            f"--restart {' '.join(sorted(map(str, unknown)))}: not a run of this sweep "
            "(give run directories as the sweep lists them, OUT/<task>/<label>/seed<k>)"
        )
    return [dataclasses.replace(s, restart=Path(s.run_dir).resolve() in wanted) for s in specs]


def _run(args, specs, left: int) -> list:
    """Run the specs; OUT/results.csv is rewritten as each run ends, so it holds every
    finished run's evaluations even if the sweep itself is killed."""
    from tqdm import tqdm

    from simbarl.sweep import backends
    from simbarl.sweep.results import write_csv
    from simbarl.train.progress import clock, progress_mode, say

    # A bar on a terminal; in a log or a pipe, only the lines (the bar's \r would pile up).
    bar = None
    if progress_mode("auto") == "bar":
        bar = tqdm(total=len(specs), desc="sweep", unit="run", dynamic_ncols=True)
    start = time.time()
    started: list = []

    def line(text: str) -> None:
        text = f"[{clock(time.time() - start):>7s}] {text}"
        if bar is not None:
            tqdm.write(text)
        else:
            say(text)

    def on_start(spec) -> None:
        started.append(spec)
        line(f"{'started':11s} {spec.name} (run {len(started)} of {left} to train)")

    def on_outcome(o) -> None:
        if o.state != "skipped":
            ended = len([x for x in outcomes if x.state != "skipped"])
            line(f"{o.state:11s} {o.spec.name} ({clock(o.seconds)}; {ended} of {left} ended)")
        if bar is not None:
            bar.update(1)
            bar.set_postfix_str(f"failed {n_failed()}" if n_failed() else "")

    outcomes: list = []
    n_failed = lambda: sum(o.state == "failed" for o in outcomes)

    def record(o) -> None:
        outcomes.append(o)
        if o.rows:
            write_csv(Path(args.out) / "results.csv", [r for x in outcomes for r in x.rows])
        on_outcome(o)

    try:
        if args.backend == "ray":
            backends.run_ray(specs, args.address, args.cpus_per_run, args.gpus_per_run, record)
        else:
            workers = args.workers or max(1, min(os.cpu_count() or 1, left))
            backends.run_local(specs, workers, Path(args.out) / "logs", record, on_start)
    except KeyboardInterrupt:
        outcomes.append(backends.Outcome(specs[0], "interrupted"))
    if bar is not None:
        bar.close()
    return outcomes


def _read_rows(prog: str, path: str) -> list[dict] | None:
    from simbarl.sweep.results import read_csv

    try:
        return read_csv(path)
    except (OSError, ValueError) as e:
        print(f"{prog}: error: {e}", file=sys.stderr)
        return None


def scores_cli(argv: list[str]) -> int:
    from simbarl.sweep.results import aggregate_table, format_tables, task_table

    p = argparse.ArgumentParser(
        prog="simbarl scores",
        description="Per-task and aggregate normalized-score tables of a sweep's results.csv "
        "(system,task,metric,env_step,value,seed), beside the published SimbaV2 figures.",
    )
    p.add_argument("csv", help="results.csv written by simbarl sweep")
    p.add_argument("--step", type=int, default=None, help="use evaluations at this env step")
    p.add_argument("--json", default=None, help="also write the tables as JSON here")
    args = p.parse_args(argv)
    rows = _read_rows(p.prog, args.csv)
    if rows is None:
        return 2
    print(format_tables(rows, args.step))
    if args.json:
        tables = {
            "tasks": task_table(rows, args.step),
            "aggregates": aggregate_table(rows, args.step),
        }
        Path(args.json).write_text(json.dumps(tables, indent=1))
    return 0


def plot_cli(argv: list[str]) -> int:
    from simbarl.analysis import plots
    from simbarl.sweep.results import aggregate_table

    p = argparse.ArgumentParser(
        prog="simbarl plot",
        description="Learning curves of a sweep's results.csv (mean over seeds, 95%% bootstrap "
        "band) against the published curves, and the aggregate-score interval plot.",
    )
    p.add_argument("csv", help="results.csv written by simbarl sweep")
    p.add_argument("--out", default=None, help="folder for the figures (default: the CSV's)")
    p.add_argument("--tasks", nargs="+", default=None, help="only these tasks")
    p.add_argument("--systems", nargs="+", default=None, help="only these configs (labels)")
    p.add_argument(
        "--published",
        nargs="*",
        default=["simbaV2_utd2"],
        help="published systems to draw (simbaV2_utd2 simba_utd2 sac tdmpc2 crossq bro_utd2); "
        "none: --published with no value",
    )
    p.add_argument("--format", nargs="+", default=["png", "svg"], choices=("png", "svg", "pdf"))
    p.add_argument("--step", type=int, default=None, help="aggregates at this env step")
    args = p.parse_args(argv)
    rows = _read_rows(p.prog, args.csv)
    if rows is None:
        return 2
    rows = [
        r
        for r in rows
        if (args.tasks is None or r["task"] in args.tasks)
        and (args.systems is None or r["system"] in args.systems)
    ]
    if not rows:
        print("simbarl plot: error: no rows left to plot", file=sys.stderr)
        return 2
    out = Path(args.out) if args.out else Path(args.csv).parent
    out.mkdir(parents=True, exist_ok=True)
    paths = plots.save(
        plots.learning_curves(rows, tuple(args.published)), out / "curves", args.format
    )
    aggs = aggregate_table(rows, args.step)
    if aggs:
        fig = plots.aggregate_intervals(aggs)
        paths += plots.save(fig, out / "aggregates", args.format)
    else:
        print("no aggregate plot: none of the tasks is one of the 57 (simbarl tasks)")
    print("\n".join(paths))
    return 0
