"""``simbarl tune``: hyperparameter search with Optuna, resumable and parallel."""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from simbarl.config import config_from_dict

TUNE_HELP = """\
Search hyperparameters with Optuna: each trial is a full training run in
OUT/trials/<number> with values sampled from a search space; every evaluation
is reported so a pruner stops poor trials early (they keep their run directory).
The study lives in OUT/study.db (SQLite; optuna-dashboard OUT/study.db shows it)
or in --storage. Running the same command again continues the study: the trial
numbers go on, finished trials are kept and trials stopped by Ctrl-C resume
from their checkpoints. At the end, and with --report OUT at any time: the best
config (OUT/best_config.json, for simbarl train --config), the top trials,
importances and plots in OUT/report/.

examples:
  simbarl tune --env dmc:cartpole-swingup --preset simbav2-small --trials 16 \\
      --steps 50000 --workers 2 --out runs/tune-cartpole
  simbarl tune --env Pendulum-v1 --space my_space.yaml --sampler cmaes --trials 30 \\
      --steps 20000 --set eval_every=2000 --out runs/tune-pendulum
  simbarl tune --report runs/tune-cartpole
"""


def _parser() -> argparse.ArgumentParser:
    from simbarl.tune.objective import OBJECTIVES
    from simbarl.tune.study import PRUNERS, SAMPLERS

    p = argparse.ArgumentParser(
        prog="simbarl tune",
        description=TUNE_HELP,
        formatter_class=argparse.RawDescriptionHelpFormatter,
        allow_abbrev=False,  # never take a config field's flag for an abbreviation of ours
    )
    p.add_argument("--out", default=None, help="study directory (required)")
    p.add_argument("--report", default=None, metavar="OUT", help="only report on study OUT")
    p.add_argument("--env", default=None, help="task id (default: the base config's)")
    p.add_argument("--preset", default="simbav2-small", help="base preset (default simbav2-small)")
    p.add_argument("--config", default=None, help="base JSON config file instead of a preset")
    p.add_argument("--trials", type=int, default=16, help="trials in the study (default 16)")
    p.add_argument("--steps", type=int, default=None, help="env-step budget of every trial")
    p.add_argument(
        "--set",
        nargs="+",
        default=[],
        metavar="KEY=VALUE",
        help="fixed base-config fields, e.g. eval_every=5000 agent.critic.num_blocks=1; "
        "simbarl train's flags of fields tune has no flag of its own do the same "
        "(--agent.critic.num-blocks 1, --eval-every 5000)",
    )
    p.add_argument(
        "--space", default=None, help="search space JSON/YAML (default: the SimbaV2 space)"
    )
    p.add_argument("--objective", choices=OBJECTIVES, default="final")
    p.add_argument("--last-k", type=int, default=3, help="evaluations of --objective last-k")
    p.add_argument("--sampler", choices=SAMPLERS, default="tpe")
    p.add_argument("--startup-trials", type=int, default=5, help="random trials before TPE/CMA")
    p.add_argument(
        "--seed",
        type=int,
        default=0,
        help="sampler seed (worker k of a new study: seed + k; a re-run: a seed of its own)",
    )
    p.add_argument("--pruner", choices=PRUNERS, default="median")
    p.add_argument(
        "--prune-after", type=int, default=3, help="median: finished trials before pruning"
    )
    p.add_argument("--storage", default=None, help="Optuna storage URL (default OUT/study.db)")
    p.add_argument("--study-name", default="simbarl")
    p.add_argument("--workers", type=int, default=1, help="workers sharing the study")
    p.add_argument("--backend", choices=("local", "ray"), default="local")
    p.add_argument("--address", default=None, help="ray: cluster address (default: local)")
    p.add_argument("--cpus-per-worker", type=float, default=1.0, help="ray: CPUs per worker")
    p.add_argument("--gpus-per-worker", type=float, default=0.0, help="ray: GPUs per worker")
    p.add_argument("--heartbeat", type=float, default=60.0, help="seconds between heartbeats")
    p.add_argument("--retries", type=int, default=1, help="re-runs of a crashed trial (0: skip it)")
    p.add_argument("--top", type=int, default=10, help="trials in the report's table")
    return p


def _config_flags(p: argparse.ArgumentParser, unknown: list[str]) -> list[str]:
    """``simbarl train``'s flags of config fields (``--agent.critic.width 32``) as
    ``KEY=VALUE`` overrides; anything else is an error of the command line."""
    from simbarl.config import config_flags

    overrides, rest = config_flags(unknown)
    if rest:
        p.error(f"unrecognized arguments: {' '.join(rest)}")
    return overrides


def build_spec(args):
    """The study's ``TuneSpec`` from the arguments; every check runs here, before any trial."""
    from simbarl.config import parse_config
    from simbarl.runs import run_dir as rd
    from simbarl.search_space import DEFAULT_SPACE, check_space, load_space
    from simbarl.tune.storage import default_url, storage_kind
    from simbarl.tune.study import TuneSpec

    common = [*([f"env={args.env}"] if args.env else []), *args.set]
    common += [f"steps={args.steps}"] if args.steps else []
    _, base = parse_config(args.config or args.preset, common)
    rd.resolve(config_from_dict(base))  # an unknown task fails here, not in every trial
    space = load_space(args.space or DEFAULT_SPACE)
    check_space(space, base)
    storage = args.storage or default_url(args.out)
    storage_kind(storage)
    spec = TuneSpec(
        out=str(args.out),
        base=base,
        space=space.to_dict(),
        trials=args.trials,
        storage=storage,
        study_name=args.study_name,
        objective=args.objective,
        last_k=args.last_k,
        sampler=args.sampler,
        startup_trials=args.startup_trials,
        seed=args.seed,
        pruner=args.pruner,
        prune_after=args.prune_after,
        heartbeat=args.heartbeat,
        retries=args.retries,
    )
    spec.check()
    return spec


def _same_study(old, new) -> None:
    """Refuse to continue a study with another base config, space or objective."""
    fixed = ("base", "space", "objective", "last_k")
    diffs = [k for k in fixed if getattr(old, k) != getattr(new, k)]
    if diffs:
        raise ValueError(
            f"{new.out} holds a study with a different {', '.join(diffs)}; continue it with the "
            "same settings (--trials, --workers, the sampler and the pruner may change) or "
            "choose another --out"
        )


def _refuse_unrecorded(spec) -> None:
    """Refuse a storage that does not record the trial runs OUT holds: tune would take
    it for a new study and train over them."""
    from simbarl.tune.study import unrecorded_runs

    stray = unrecorded_runs(spec)
    if stray:
        names = ", ".join(d.name for d in stray[:5]) + (", ..." if len(stray) > 5 else "")
        raise ValueError(
            f"{spec.out} holds {len(stray)} trial run(s) with metrics (trials {names}) that "
            f"study {spec.study_name!r} in {spec.storage} does not record. Continue with the "
            "--storage and --study-name that hold them, or choose another --out (or delete "
            f"{Path(spec.out) / 'trials'} to start the study over)"
        )


def tune_cli(argv: list[str]) -> int:
    p = _parser()
    args, unknown = p.parse_known_args(argv)
    try:
        args.set = [*args.set, *_config_flags(p, unknown)]
        from simbarl.tune.storage import quiet_optuna

        quiet_optuna()
        if args.report:
            return _report(args.report, args.top)
        if not args.out:
            p.error("--out DIR is required (the study directory)")
        if args.workers < 1:
            p.error("--workers must be at least 1")
        spec = build_spec(args)
        from simbarl.tune.study import SPEC_FILE, TuneSpec, open_study

        if (Path(args.out) / SPEC_FILE).is_file():
            _same_study(TuneSpec.load(args.out), spec)
        _refuse_unrecorded(spec)
        open_study(spec)  # the storage opens (or says why not) before any worker starts
        spec.save()
    except (ValueError, RuntimeError) as e:
        print(f"simbarl tune: error: {e}", file=sys.stderr)
        return 2
    return _run(spec, args)


def _run(spec, args) -> int:
    from simbarl.train.progress import clock
    from simbarl.tune import parallel
    from simbarl.tune.report import write_report
    from simbarl.tune.study import open_study
    from simbarl.tune.trial import WriteFailed

    study = open_study(spec)
    before = len(study.get_trials(deepcopy=False))
    print(
        f"study {spec.study_name} ({spec.storage}): {before} trials so far, target {spec.trials}; "
        f"{args.workers} worker(s), {spec.sampler} sampler, {spec.pruner} pruner, "
        f"{spec.objective} objective, {spec.base['steps']} env steps per trial"
    )
    start = time.time()
    try:
        if args.backend == "ray":
            state = parallel.run_ray(
                spec, args.workers, args.address, args.cpus_per_worker, args.gpus_per_worker
            )
        else:
            state = parallel.run_local(spec, args.workers)
    except RuntimeError as e:
        print(f"simbarl tune: error: {e}", file=sys.stderr)
        return 1
    except WriteFailed as e:  # a full disk: the trial checkpointed, the study stopped
        print(
            f"simbarl tune: error: {e}. Files already written are whole; free disk space, "
            f"then re-run the same command to continue the study ({spec.out})",
            file=sys.stderr,
        )
        return 1
    took = clock(time.time() - start)
    print(f"\nthe trials of this command took {took}\n{write_report(spec, study, args.top)}")
    if state == "interrupted":
        print(
            f"interrupted: re-run the same command to continue the study ({spec.out})",
            file=sys.stderr,
        )
        return 130
    return _failed_study(study)


def _failed_study(study) -> int:
    """1, with the first failure's reason, when no trial of the study has completed."""
    trials = study.get_trials(deepcopy=False)
    if any(t.state.name == "COMPLETE" for t in trials):
        return 0
    failed = [t for t in trials if t.state.name == "FAIL"]
    if not failed:
        return 0
    first = failed[0]
    reason = first.user_attrs.get("error", "no reason was recorded")
    print(
        f"simbarl tune: error: no trial completed; {len(failed)} failed. "
        f"Trial {first.number}: {reason}",
        file=sys.stderr,
    )
    return 1


def _report(out: str, top: int) -> int:
    from simbarl.tune.report import write_report
    from simbarl.tune.study import TuneSpec, open_study

    spec = TuneSpec.load(out)
    print(write_report(spec, open_study(spec), top))
    return 0
