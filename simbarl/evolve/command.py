"""``simbarl evolve``: evolutionary population training (shared replay; host or device loop)."""

from __future__ import annotations

import argparse
import dataclasses
import sys

EVOLVE_HELP = """\
Evolve a population of learners on one shared replay buffer. Every member has
its own learner, hyperparameters and envs; all their transitions go into one
buffer, which every member learns from. A generation is --evo-steps env steps
per member (warm-up once for the whole population), then a fitness evaluation
of --fitness-episodes deterministic episodes per member. The fittest survive by
tournament with elitism (the best is kept unchanged) and each offspring takes
one mutation: none, hp (one hyperparameter x0.8 or x1.2 within its range), params
(noise on the actor's weights) or arch (a block added or removed, a width
changed, trained weights and Adam moments kept). On mjx:, brax: and jax: tasks
the whole population trains in the device loop (one device), with the same
run directory.

Every `simbarl train` flag (--env, --preset, --config, --seed, --algo,
--agent.critic.width, --batch-size, ...; see simbarl train --help), and --set
KEY=VALUE as in simbarl sweep and tune, sets the starting config of every
member; --steps is set to generations x evo-steps, so the learning-rate decay
spans the whole search.

RUN holds population.jsonl (a row per member and generation), metrics.jsonl and
TensorBoard (best and mean fitness per generation), checkpoint.npz (the whole
population with its replay, after every generation), best/ (the elite as a run
directory for simbarl eval, collect and train --init-from) and best_config.json
(for simbarl train --config and simbarl sweep --config).

examples:
  simbarl evolve --env dmc:cartpole-swingup --preset simbav2-small --population 8 \\
      --generations 10 --evo-steps 10000 --run-dir runs/evolve-cartpole
  simbarl evolve --env Pendulum-v1 --population 4 --generations 5 --evo-steps 2000 \\
      --mutation-probs none=0.5,hp=0.5 --space my_ranges.yaml --fitness mean-last-k
  simbarl evolve --resume runs/evolve-cartpole --generations 20
"""

DEFAULTS = {
    "population": 8,
    "generations": 10,
    "evo_steps": 10_000,
    "fitness": "last",
    "fitness_k": 3,
    "fitness_episodes": 5,
    "tournament_size": 2,
    "mutation_probs": "none=0.4,arch=0.2,params=0.2,hp=0.2",
    "arch_blocks": "1:4",
    "arch_widths": "32:1024",
}
# What a resumed run may change; the rest of its settings are its own.
RESUMABLE = ("generations", "pause_after")


def _parser() -> argparse.ArgumentParser:
    from simbarl.evolve.spec import FITNESS

    d = DEFAULTS
    p = argparse.ArgumentParser(
        prog="simbarl evolve",
        description=EVOLVE_HELP,
        formatter_class=argparse.RawDescriptionHelpFormatter,
        add_help=False,
        allow_abbrev=False,  # never take a train flag for an abbreviation of ours
    )
    p.add_argument("-h", "--help", action="store_true", help="show this help and exit")
    add = lambda flag, help, **kw: p.add_argument(flag, default=None, help=help, **kw)
    add("--population", f"members (default {d['population']})", type=int)
    add("--generations", f"generations to run (default {d['generations']})", type=int)
    add(
        "--evo-steps",
        f"env steps per member and generation (default {d['evo_steps']}, rounded up to whole "
        "agent steps: num_envs x action_repeat)",
        type=int,
    )
    add("--fitness", f"how fitness is computed (default {d['fitness']})", choices=FITNESS)
    add("--fitness-k", f"generations of --fitness mean-last-k (default {d['fitness_k']})", type=int)
    add(
        "--fitness-episodes",
        f"deterministic evaluation episodes per member (default {d['fitness_episodes']})",
        type=int,
    )
    add(
        "--tournament-size",
        f"members per tournament, drawn with replacement (default {d['tournament_size']})",
        type=int,
    )
    add("--mutation-probs", f"KIND=P,... (default {d['mutation_probs']})")
    p.add_argument("--mutate-elite", action="store_true", default=None, help="mutate the elite too")
    add(
        "--vmap",
        "members of one shape in one vmapped call (on), one call each (off), or on only on "
        "an accelerator (auto, the default); the same updates either way",
        choices=("auto", "on", "off"),
    )
    add(
        "--space",
        "hyperparameter ranges: a search-space file (JSON/YAML) as simbarl tune reads "
        "(default: the built-in ranges, docs/guides/evolve.md)",
    )
    add("--arch-blocks", f"MIN:MAX blocks of arch mutations (default {d['arch_blocks']})")
    add("--arch-widths", f"MIN:MAX widths of arch mutations (default {d['arch_widths']})")
    add("--pause-after", "checkpoint and stop after this generation (then --resume)", type=int)
    add("--resume", "continue the evolve run in this directory", metavar="RUN")
    add(
        "--lineage",
        "draw RUN/lineage.png and .svg from RUN/population.jsonl and exit (a run draws "
        "them itself after its last generation and when it stops)",
        metavar="RUN",
    )
    add("--preset", "starting preset of every member (as simbarl train)")
    add("--config", "starting JSON config of every member (as simbarl train)")
    add("--init-from", "every member starts from this run's weights (as simbarl train)")
    return p


def _spec(args):
    """The ``EvolveSpec`` of the arguments (defaults filled in)."""
    from simbarl.evolve import mutations as mut
    from simbarl.evolve.spec import EvolveSpec, load_ranges, parse_pair

    v = {k: getattr(args, k) if getattr(args, k) is not None else d for k, d in DEFAULTS.items()}
    blocks = parse_pair(v["arch_blocks"], "--arch-blocks")
    widths = parse_pair(v["arch_widths"], "--arch-widths")
    ranges = load_ranges(args.space) if args.space else dict(mut.DEFAULT_RANGES)
    return EvolveSpec(
        population=v["population"],
        generations=v["generations"],
        evo_steps=v["evo_steps"],
        fitness=v["fitness"],
        fitness_k=v["fitness_k"],
        fitness_episodes=v["fitness_episodes"],
        tournament_size=v["tournament_size"],
        mutation_probs=mut.parse_probs(v["mutation_probs"]),
        mutate_elite=bool(args.mutate_elite),
        vmap=args.vmap or "auto",
        ranges=ranges,
        arch=mut.ArchBounds(*blocks, *widths),
        pause_after=args.pause_after,
    )


def _train_config(args, rest: list[str]):
    """Every member's starting config from the ``simbarl train`` flags in ``rest``."""
    import tyro

    from simbarl.config import config_flags, preset_name
    from simbarl.train.command import no_progress_flag, start_config, with_overrides

    sets, rest = config_flags(no_progress_flag(rest), dotted=False)  # tyro reads the rest
    base = with_overrides(start_config(args.preset, args.config, args.init_from), sets)
    cfg = tyro.cli(
        type(base),
        default=base,
        args=rest,
        prog="simbarl evolve",
        description="The starting config of every member: the flags of simbarl train.",
    )
    return dataclasses.replace(cfg, preset=preset_name(args.preset)) if args.preset else cfg


def _resume(args, rest: list[str]):
    from simbarl.evolve.evolve import resume_evolve
    from simbarl.train.command import no_progress_flag
    from simbarl.train.progress import MODES

    fixed = [k for k in vars(args) if k not in (*RESUMABLE, "resume", "help")]
    given = [f"--{k.replace('_', '-')}" for k in fixed if getattr(args, k) is not None]
    rest, shown = no_progress_flag(rest), None
    while len(rest) >= 2 and rest[0] == "--progress" and rest[1] in MODES:
        shown, rest = rest[1], rest[2:]
    if given or rest:
        raise ValueError(
            f"a resumed run keeps its settings; only --generations, --pause-after, "
            f"--progress MODE and --no-progress may be given (got {' '.join(given + rest)})"
        )
    return resume_evolve(args.resume, args.generations, args.pause_after, shown)


def evolve_cli(argv: list[str]) -> int:
    p = _parser()
    args, rest = p.parse_known_args(argv)
    if args.help:
        print(p.format_help())
        return 0
    from simbarl.train.command import run_reporting_errors

    if args.lineage:
        shown, code = run_reporting_errors("simbarl evolve", lambda: _draw(args.lineage))
        if code is None:
            print(f"lineage: {shown}")
        return code or 0
    result, code = run_reporting_errors("simbarl evolve", lambda: _start(args, rest))
    if code is not None:
        return code
    run = result.run_dir
    if result.generation > 0:
        try:
            _draw(run)
        except Exception as e:  # a figure must not cost the run its outcome
            print(f"simbarl evolve: the lineage figure failed: {e}", file=sys.stderr)
    if result.interrupted and not (run / "checkpoint.npz").is_file():
        print("stopped; --no-checkpoint: there is nothing to resume", file=sys.stderr)
        return 130
    if result.interrupted:
        print(
            f"stopped; the population is checkpointed after generation {result.generation}. "
            f"Continue with: simbarl evolve --resume {run}",
            file=sys.stderr,
        )
        return 130
    best = f"{result.best_fitness[-1]:.1f}" if result.best_fitness else "n/a"
    print(
        f"done: {result.generation} generations, best fitness {best}; the elite is {run}/best "
        f"(simbarl eval {run}/best), its config {run}/best_config.json"
    )
    return 0


def _start(args, rest: list[str]):
    if args.resume:
        return _resume(args, rest)
    from simbarl.evolve.evolve import evolve

    spec, cfg = _spec(args), _train_config(args, rest)
    if args.evo_steps is None:  # the default, in whole agent steps of the task
        spec = dataclasses.replace(spec, evo_steps=whole_steps(spec.evo_steps, cfg))
    return evolve(cfg, spec)


def whole_steps(env_steps: int, cfg) -> int:
    """``env_steps`` rounded up to a multiple of the env steps of one agent step of
    ``cfg``'s task (``num_envs x action_repeat``: 32 on a device task by default)."""
    from simbarl.runs import run_dir as rd

    resolved, _ = rd.resolve(cfg)
    per_iter = resolved.num_envs * resolved.action_repeat
    return -(-env_steps // per_iter) * per_iter


def _draw(run) -> str:
    from simbarl.evolve.lineage import draw_lineage

    return str(draw_lineage(run)[0])
