"""Device-loop speed: for each task and each N in --num-envs, trains with the
device loop and reports the steady-state env steps/s and updates/s (median of the
logged rates after the first chunk, which holds compilation). Whether and how fast
it learns is ``benchmarks/device_learning.py``'s.

    python benchmarks/device_loop.py --json benchmarks/results/device_loop_cpu.json
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import platform
import statistics
import tempfile
import time
from pathlib import Path

import jax

from simbarl.config import preset
from simbarl.runs.metrics import read_metrics
from simbarl.runs.run_dir import resolve
from simbarl.train.run import train


def throughput(base, env: str, n: int, iterations: int, tmp: str) -> dict:
    repeat = base.action_repeat or resolve(dataclasses.replace(base, env=env))[0].action_repeat
    per_iter = n * repeat
    chunk = max(iterations // 4, 1)
    cfg = dataclasses.replace(
        base,
        env=env,
        num_envs=n,
        action_repeat=repeat,
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
        "action_repeat": repeat,
        "batch_size": cfg.batch_size,
        "updates_per_step": cfg.updates_per_step,
        "env_steps": result.env_step,
        "wall_s_with_compile": wall,
        "env_steps_per_s": statistics.median(r["perf/env_steps_per_s"] for r in rows),
        "updates_per_s": statistics.median(r["perf/updates_per_s"] for r in rows),
    }


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--tasks", nargs="+", default=["mjx:CartpoleBalance", "mjx:CheetahRun"])
    p.add_argument("--num-envs", nargs="+", type=int, default=[64, 1024, 4096])
    p.add_argument("--preset", default="simbav2-small")
    p.add_argument("--batch-size", type=int, default=256)
    p.add_argument("--updates-per-step", type=int, default=2)
    p.add_argument("--iterations", type=int, default=40, help="per throughput measurement")
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


if __name__ == "__main__":
    main()
