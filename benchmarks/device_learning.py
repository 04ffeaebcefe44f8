"""Does the device loop learn? Time to a threshold as a user runs it, and the device
loop against the host loop per update on the same task.

1. ``solve``: ``simbarl train --env mjx:CartpoleBalance --stop-at-return 900`` with
   nothing else set (the device-loop defaults), once per ``--seeds``: the wall clock
   from the call to ``train`` (compilation included), and the env steps and updates
   it took to reach the threshold.
2. ``twins``: each ``mjx:`` task against its DeepMind Control original (``dmc:``,
   the same physics through dm_control, stepped on the host), and ``brax:ant``
   beside Gymnasium's ``Ant-v4`` (a different model of the same robot), with one
   config for both (network, batch, envs, action repeat, updates per vector step),
   each run for ``--twin-steps`` env steps on each of ``--twin-seeds``: evaluation
   return against updates, so that the two loops are compared per update, the cost
   that dominates on a CPU.

    python benchmarks/device_learning.py --json benchmarks/results/device_learning_cpu.json

The curves and times go into the JSON after every run, so a run cut short keeps
what it measured; ``--only solve|twins`` runs one part, and a twin run replaces
only its own task and seed in the file, so twins can be run a few at a time.
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime
import json
import math
import os
import tempfile
import time
from pathlib import Path

import jax
from throughput import cpu_name  # benchmarks/throughput.py, beside this script

from simbarl.config import DEFAULT_PRESET, TrainConfig, preset
from simbarl.runs.run_dir import resolve
from simbarl.train.command import with_overrides
from simbarl.train.run import train

TWINS = {
    "mjx:CartpoleBalance": "dmc:cartpole-balance",
    "mjx:CheetahRun": "dmc:cheetah-run",
    "brax:ant": "Ant-v4",
}


def updates_at(cfg: TrainConfig, env_step: int) -> int:
    """Updates done by ``env_step`` (either loop): ``updates_per_step`` per iteration
    from the last warm-up iteration on (``Session.warmup_iterations``)."""
    per_iter = cfg.num_envs * cfg.action_repeat
    warmup = math.ceil(cfg.warmup_steps / cfg.num_envs)
    return cfg.updates_per_step * max(0, env_step // per_iter - (warmup - 1))


def run(cfg: TrainConfig) -> dict:
    """Train ``cfg``; its evaluations as ``(env step, updates, return)`` and the wall clock."""
    resolved, _ = resolve(cfg)
    start = time.time()
    result = train(cfg)
    wall = time.time() - start
    curve = [(s, updates_at(resolved, s), r) for s, r in result.eval_returns]
    return {
        "env": cfg.env,
        "seed": cfg.seed,
        "num_envs": resolved.num_envs,
        "action_repeat": resolved.action_repeat,
        "updates_per_step": resolved.updates_per_step,
        "batch_size": resolved.batch_size,
        "actor": _net(resolved.agent.actor),
        "critic": _net(resolved.agent.critic),
        "wall_s_with_compile": wall,
        "env_steps": result.env_step,
        "updates": updates_at(resolved, result.env_step),
        "curve": curve,
    }


def _net(n) -> str:
    return f"{n.encoder} {n.width}x{n.num_blocks}"


def quiet(cfg: TrainConfig, run_dir: str) -> TrainConfig:
    return dataclasses.replace(
        cfg, run_dir=run_dir, tensorboard=False, progress="off", checkpoint=False
    )


def solve(task: str, threshold: float, seed: int, tmp: str, base: TrainConfig) -> dict:
    """The run as ``simbarl train --env TASK --stop-at-return T --seed S`` makes it
    (``base``: the default preset, or ``--preset``/``--set``'s config)."""
    cfg = dataclasses.replace(base, env=task, seed=seed, stop_at_return=threshold)
    row = run(quiet(cfg, f"{tmp}/solve-{seed}"))
    reached = [(s, u) for s, u, r in row["curve"] if r >= threshold]
    row.update(threshold=threshold, solved=bool(reached))
    if reached:
        row["env_steps"], row["updates"] = reached[0]
    return row


def twin(
    task: str, host_task: str, steps: int, eval_every: int, seed: int, tmp: str, base: TrainConfig
) -> dict:
    """``task`` in the device loop and ``host_task`` in the host loop, one config: the
    device loop's defaults for ``task`` with ``base``'s learner."""
    device_cfg, _ = resolve(dataclasses.replace(base, env=task, seed=seed))
    shared = {
        f: getattr(device_cfg, f)
        for f in ("num_envs", "action_repeat", "updates_per_step", "batch_size", "warmup_steps")
    }
    out = {}
    for loop, env in (("device", task), ("host", host_task)):
        cfg = dataclasses.replace(
            base,
            env=env,
            seed=seed,
            steps=steps,
            eval_every=eval_every,
            log_every=eval_every,
            **shared,
        )
        out[loop] = run(quiet(cfg, f"{tmp}/{loop}-{env.replace(':', '-')}-{seed}"))
        last = out[loop]["curve"][-1]
        print(
            f"  {loop} {env}: {last[1]:,} updates, last evaluation {last[2]:.1f} "
            f"({out[loop]['wall_s_with_compile']:.0f} s)",
            flush=True,
        )
    return {"seed": seed, **out}


def merged_twins(old, task: str, pair: dict) -> dict:
    """``old`` twins (``{task: [pair per seed]}``) with ``pair`` in place of the same
    task and seed; a file of the older layout (``{task: {loop: run}}``) is dropped."""
    twins = {t: v for t, v in (old or {}).items() if isinstance(v, list)}
    runs = [r for r in twins.get(task, []) if r["seed"] != pair["seed"]]
    twins[task] = sorted([*runs, pair], key=lambda r: r["seed"])
    return twins


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--solve-task", default="mjx:CartpoleBalance")
    p.add_argument("--threshold", type=float, default=900.0)
    p.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2])
    p.add_argument("--twins", nargs="+", default=list(TWINS), help=f"of {list(TWINS)}")
    p.add_argument("--twin-seeds", nargs="+", type=int, default=[0, 1])
    p.add_argument("--twin-steps", type=int, default=300_000, help="env steps per twin run")
    p.add_argument("--twin-eval-every", type=int, default=20_000)
    p.add_argument("--only", choices=("solve", "twins"), default=None)
    p.add_argument("--preset", default=DEFAULT_PRESET, help="the runs' preset")
    p.add_argument("--set", nargs="*", default=[], metavar="KEY=VALUE", help="the runs' overrides")
    p.add_argument("--json", default=None)
    args = p.parse_args()
    base = with_overrides(preset(args.preset), args.set)
    out: dict = {
        "date": datetime.date.today().isoformat(),
        "device": str(jax.devices()[0]),
        "backend": jax.default_backend(),
        "machine": cpu_name(),
        "jax": jax.__version__,
        "cpu_count": os.cpu_count(),
    }
    if args.json and Path(args.json).is_file():  # --only keeps the other part's results
        out = {**json.loads(Path(args.json).read_text()), **out}

    def dump() -> None:
        if args.json:
            Path(args.json).parent.mkdir(parents=True, exist_ok=True)
            Path(args.json).write_text(json.dumps(out, indent=1))

    with tempfile.TemporaryDirectory() as tmp:
        if args.only in (None, "solve"):
            out["solve"], out["solve_preset"], out["solve_set"] = [], args.preset, args.set
            for seed in args.seeds:
                row = solve(args.solve_task, args.threshold, seed, tmp, base)
                out["solve"].append(row)
                dump()
                state = "reached" if row["solved"] else "did not reach"
                print(
                    f"{args.solve_task} seed {seed}: {state} {args.threshold:g} at "
                    f"{row['env_steps']:,} env steps ({row['updates']:,} updates), "
                    f"{row['wall_s_with_compile']:.0f} s with compilation",
                    flush=True,
                )
        if args.only in (None, "twins"):
            out.pop("twins_note", None)
            out["twins_preset"], out["twins_set"] = args.preset, args.set
            for task in args.twins:
                for seed in args.twin_seeds:
                    steps, every = args.twin_steps, args.twin_eval_every
                    head = f"{task} against {TWINS[task]}, seed {seed}, {steps:,} env steps:"
                    print(head, flush=True)
                    pair = twin(task, TWINS[task], steps, every, seed, tmp, base)
                    out["twins"] = merged_twins(out.get("twins"), task, pair)
                    dump()


if __name__ == "__main__":
    main()
