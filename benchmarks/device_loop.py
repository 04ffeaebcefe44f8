"""Device-loop speed and time to solve, against the host loop on the same task.

1. Throughput with training: for each task and each N in --num-envs, trains
   with the device loop and reports the steady-state env steps/s and updates/s
   (median of the logged rates after the first chunk, which holds compilation).
2. Time to threshold: trains --solve-task until an evaluation reaches
   --threshold (``--stop-at-return``) and reports the wall clock from the
   start of ``train`` (compilation included) and the env steps it took.
3. The host loop on the DeepMind Control original of the solve task (the
   same physics through dm_control, one env, UTD 2) for the same number of
   seconds, for comparison.

    python benchmarks/device_loop.py --json benchmarks/results/device_loop_cpu.json
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import platform
import signal
import statistics
import tempfile
import threading
import time
from pathlib import Path

import jax

from simbarl.config import preset
from simbarl.runs.metrics import read_metrics
from simbarl.train.run import train

HOST_TWIN = {"mjx:CartpoleBalance": "dmc:cartpole-balance", "mjx:CheetahRun": "dmc:cheetah-run"}


def throughput(base, env: str, n: int, iterations: int, tmp: str) -> dict:
    per_iter = n * base.action_repeat if base.action_repeat else n
    chunk = max(iterations // 4, 1)
    cfg = dataclasses.replace(
        base,
        env=env,
        num_envs=n,
        steps=iterations * per_iter,
        warmup_steps=n,  # learn from the second iteration on
        log_every=chunk * per_iter,
        eval_every=10**12,
        eval_episodes=8,
        run_dir=f"{tmp}/{env.replace(':', '-')}-{n}",
    )
    start = time.time()
    result = train(cfg)
    wall = time.time() - start
    rows = [r for r in read_metrics(result.run_dir) if "perf/env_steps_per_s" in r][1:]
    return {
        "env": env,
        "num_envs": n,
        "batch_size": cfg.batch_size,
        "updates_per_step": cfg.updates_per_step,
        "env_steps": result.env_step,
        "wall_s_with_compile": wall,
        "env_steps_per_s": statistics.median(r["perf/env_steps_per_s"] for r in rows),
        "updates_per_s": statistics.median(r["perf/updates_per_s"] for r in rows),
    }


def solve(base, env: str, n: int, threshold: float, budget: int, eval_every: int, tmp: str):
    cfg = dataclasses.replace(
        base,
        env=env,
        num_envs=n,
        steps=budget,
        eval_every=eval_every,
        log_every=eval_every,
        stop_at_return=threshold,
        run_dir=f"{tmp}/solve-{env.replace(':', '-')}",
    )
    start = time.time()
    result = train(cfg)
    wall = time.time() - start
    reached = [(s, r) for s, r in result.eval_returns if r >= threshold]
    return {
        "env": env,
        "num_envs": n,
        "threshold": threshold,
        "solved": bool(reached),
        "wall_s_with_compile": wall,
        "env_steps": reached[0][0] if reached else result.env_step,
        "eval_returns": result.eval_returns,
    }, wall


def host_twin(base, env: str, seconds: float, eval_every: int, tmp: str) -> dict:
    """The host loop on the dm_control original for ``seconds`` of wall clock."""
    cfg = dataclasses.replace(
        base,
        env=env,
        num_envs=1,
        action_repeat=1,  # Playground's control step, not the DMC suite's repeat of 2
        steps=10**7,
        eval_every=eval_every,
        log_every=eval_every,
        run_dir=f"{tmp}/host-{env.replace(':', '-')}",
    )
    # Stop by time, as a user's Ctrl-C does (the loop finishes its step and stops).
    timer = threading.Timer(seconds, lambda: os.kill(os.getpid(), signal.SIGINT))
    start = time.time()
    timer.start()
    try:
        result = train(cfg)
    finally:
        timer.cancel()
    return {
        "env": env,
        "wall_s": time.time() - start,
        "env_steps": result.env_step,
        "eval_returns": result.eval_returns,
    }


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--tasks", nargs="+", default=["mjx:CartpoleBalance", "mjx:CheetahRun"])
    p.add_argument("--num-envs", nargs="+", type=int, default=[64, 1024, 4096])
    p.add_argument("--preset", default="simbav2-small")
    p.add_argument("--batch-size", type=int, default=256)
    p.add_argument("--updates-per-step", type=int, default=2)
    p.add_argument("--iterations", type=int, default=40, help="per throughput measurement")
    p.add_argument("--solve-task", default="mjx:CartpoleBalance")
    p.add_argument("--solve-num-envs", type=int, default=32)
    p.add_argument("--threshold", type=float, default=900.0)
    p.add_argument("--solve-budget", type=int, default=200_000, help="env steps at most")
    p.add_argument("--solve-eval-every", type=int, default=8_000)
    p.add_argument("--no-host", action="store_true", help="skip the host-loop comparison")
    p.add_argument("--json", default=None)
    args = p.parse_args()
    base = dataclasses.replace(
        preset(args.preset),
        batch_size=args.batch_size,
        updates_per_step=args.updates_per_step,
        tensorboard=False,
        progress=False,
        checkpoint=False,
    )
    out: dict = {
        "preset": args.preset,
        "device": str(jax.devices()[0]),
        "backend": jax.default_backend(),
        "machine": platform.processor() or platform.machine(),
        "cpu_count": os.cpu_count(),
        "throughput": [],
    }

    def dump() -> None:  # after every measurement: a run cut short keeps what it measured
        if args.json:
            Path(args.json).parent.mkdir(parents=True, exist_ok=True)
            Path(args.json).write_text(json.dumps(out, indent=1))

    with tempfile.TemporaryDirectory() as tmp:
        for env in args.tasks:
            for n in args.num_envs:
                row = throughput(base, env, n, args.iterations, tmp)
                out["throughput"].append(row)
                dump()
                print(
                    f"{env} N={n}: {row['env_steps_per_s']:.0f} env steps/s, "
                    f"{row['updates_per_s']:.1f} updates/s "
                    f"({row['wall_s_with_compile']:.0f} s with compilation)",
                    flush=True,
                )
        solved, wall = solve(
            base,
            args.solve_task,
            args.solve_num_envs,
            args.threshold,
            args.solve_budget,
            args.solve_eval_every,
            tmp,
        )
        out["solve"] = solved
        dump()
        state = "reached" if solved["solved"] else "did not reach"
        print(
            f"{args.solve_task} N={args.solve_num_envs}: {state} {args.threshold:g} "
            f"after {solved['env_steps']} env steps, {wall:.0f} s with compilation",
            flush=True,
        )
        twin = HOST_TWIN.get(args.solve_task)
        if twin and not args.no_host:
            host = host_twin(base, twin, wall, args.solve_eval_every, tmp)
            out["host_twin"] = host
            dump()
            last = host["eval_returns"][-1][1] if host["eval_returns"] else float("nan")
            print(
                f"host loop {twin}, same {wall:.0f} s: {host['env_steps']} env steps, "
                f"last evaluation {last:.1f}",
                flush=True,
            )


if __name__ == "__main__":
    main()
