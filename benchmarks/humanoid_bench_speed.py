"""Env steps/s of HumanoidBench's 14 H1 tasks with random actions, on this machine.

Each task is built as simbarl trains it (through the adapter, no rendering) but
with action repeat 1, so one step is one env step: one HumanoidBench step, i.e.
``frame_skip`` = 10 MuJoCo substeps, and the unit the reference's ``env_step``
and simbarl's ``--steps`` count. Actions are uniform in [-1, 1] from a seeded
generator; an episode that ends (the robot falls, or 1000 steps) is reset and
its reset counted in the time, as a training loop would see it. One process,
one env, one core at most (MuJoCo steps single-threaded). Besides wall-clock
steps/s it reports steps per CPU second of this process, which another job on
a shared machine changes less.

    python benchmarks/humanoid_bench_speed.py --steps 1000 \\
        --json benchmarks/results/humanoid_bench_speed_cpu.json
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import time
from pathlib import Path

import numpy as np
from throughput import cpu_name

from simbarl.envs.benchmark_tasks import tasks_of
from simbarl.envs.registry import make_env


def measure(env_id: str, steps: int, seed: int = 0) -> dict:
    env = make_env(env_id, 1)
    rng = np.random.default_rng(seed)
    shape = env.action_space.shape
    env.reset(seed=seed)
    episodes = 0
    start, cpu_start = time.perf_counter(), time.process_time()
    for _ in range(steps):
        _, _, terminated, truncated, _ = env.step(rng.uniform(-1.0, 1.0, shape))
        if terminated or truncated:
            episodes += 1
            env.reset()
    seconds = time.perf_counter() - start
    cpu_seconds = time.process_time() - cpu_start
    env.close()
    return {
        "env": env_id,
        "steps": steps,
        "seconds": seconds,
        "env_steps_per_s": steps / seconds,
        "cpu_seconds": cpu_seconds,
        "env_steps_per_cpu_s": steps / cpu_seconds,  # less sensitive to a shared machine
        "episodes_ended": episodes,
        "load_average_1min": os.getloadavg()[0],
    }


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--steps", type=int, default=1000, help="env steps per task")
    p.add_argument("--tasks", default="humanoid_bench", help="suite name or comma list of ids")
    p.add_argument("--json", default=None, help="write the results here")
    p.add_argument("--note", default="", help="a note stored with the results (the machine)")
    args = p.parse_args()
    import gymnasium
    import mujoco

    meta = {
        "date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "cpu": cpu_name(),
        "cores": os.cpu_count(),
        "load_average_1min_at_start": os.getloadavg()[0],
        "mujoco": mujoco.__version__,
        "gymnasium": gymnasium.__version__,
        "humanoid_bench_commit": "791405f",
        "note": args.note,
    }
    results = []
    for task in tasks_of(args.tasks):
        row = measure(task.env_id, args.steps)
        results.append(row)
        print(json.dumps(row), flush=True)
        if args.json:  # after every row: a run cut short keeps what it measured
            Path(args.json).parent.mkdir(parents=True, exist_ok=True)
            Path(args.json).write_text(json.dumps({"meta": meta, "results": results}, indent=2))
    wall = np.median([r["env_steps_per_s"] for r in results])
    cpu = np.median([r["env_steps_per_cpu_s"] for r in results])
    print(f"median over {len(results)} tasks: {wall:.0f} env steps/s, {cpu:.0f} per CPU second")


if __name__ == "__main__":
    main()
