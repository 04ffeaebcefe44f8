"""A population's step in the device loop against one member's (``simbarl evolve`` on ``mjx:``).

Builds ``simbarl evolve``'s device population (``evolve/device_loop.py``) of P
members on one task, each member with its own learning rate and tau (per-member
data in one vmapped group), and times its scanned population steps while
learning: all ``P x num_envs`` envs step, every transition goes into the shared
device replay, every member runs its UTD updates and acts. Each P is compiled
first (one chunk of ``--steps`` population steps, not timed), then
``--repeats`` chunks are timed; the median chunk gives ms per population step.
Flajolet et al. (ICML 2022) is the anchor: on a device with room to spare, a
population of P costs near one member, so the ratio to P=1 is the figure to
read (P means P times the env steps and the updates in that time).

    python benchmarks/population_device.py --json benchmarks/results/population_device_gpu.json
    python benchmarks/population_device.py --num-envs 8 --batch-size 64 --steps 10 \\
        --json benchmarks/results/population_device_cpu.json   # a small CPU setting
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime
import json
import os
import statistics
import sys
import time
from pathlib import Path

import jax
from evolve_vmap import population as host_population  # beside this script
from throughput import cpu_name  # benchmarks/throughput.py, beside this script

from simbarl.config import preset
from simbarl.evolve.device_loop import DevicePopulation, hypers
from simbarl.runs import run_dir as rd


def population(cfg, members: int, vmap: str):
    """The device population of ``members``, each with its own learning rate and tau
    (as ``evolve_vmap.py``'s), learning from its first step (a warm-up of one step)."""
    cfg = dataclasses.replace(cfg, warmup_steps=members * cfg.num_envs)
    cfg, _ = rd.resolve(cfg)  # as check_evolve, which refuses a population of one
    pop = host_population(cfg, members, vmap == "on")
    return pop, DevicePopulation(cfg, pop.programs, members, fitness_episodes=1)


def time_population(cfg, members: int, vmap: str, steps: int, repeats: int) -> dict:
    t0 = time.perf_counter()
    pop, device = population(cfg, members, vmap)
    cfg = pop.cfg  # resolved
    carry, step = device.start(pop, random=False)
    chunk = lambda c: step.chunk(c, hypers(pop), pop.dataset, steps, length=steps, learn=True)
    carry, _ = chunk(carry)  # compiles
    jax.block_until_ready(carry)
    compile_s = time.perf_counter() - t0
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        carry, metrics = chunk(carry)
        jax.block_until_ready((carry, metrics))
        times.append(time.perf_counter() - t)
    ms = 1e3 * statistics.median(times) / steps
    return {
        "population": members,
        "vmap": vmap,
        "groups": len(pop.groups),
        "ms_per_population_step": ms,
        "ms_per_member_step": ms / members,
        "env_steps_per_s": members
        * cfg.num_envs
        * cfg.action_repeat
        * steps
        / statistics.median(times),
        "chunk_seconds": times,
        "setup_and_compile_s": compile_s,
    }


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--env", default="mjx:CartpoleBalance")
    p.add_argument("--populations", nargs="+", type=int, default=[1, 4])
    p.add_argument("--vmap", nargs="+", default=["on"], choices=("on", "off"))
    p.add_argument("--preset", default="simbav2-small")
    p.add_argument("--num-envs", type=int, default=128, help="per member")
    p.add_argument("--batch-size", type=int, default=256)
    p.add_argument("--updates-per-step", type=int, default=1)
    p.add_argument("--steps", type=int, default=50, help="population steps per timed chunk")
    p.add_argument("--repeats", type=int, default=3, help="timed chunks per population")
    p.add_argument("--json", default=None)
    args = p.parse_args()
    cfg = dataclasses.replace(
        preset(args.preset),
        env=args.env,
        num_envs=args.num_envs,
        batch_size=args.batch_size,
        updates_per_step=args.updates_per_step,
        steps=10**6,
        tensorboard=False,
        progress=False,
        checkpoint=False,
    )
    out: dict = {
        "env": args.env,
        "preset": args.preset,
        "num_envs_per_member": args.num_envs,
        "batch_size": args.batch_size,
        "updates_per_step": args.updates_per_step,
        "steps_per_chunk": args.steps,
        "device": str(jax.devices()[0]),
        "backend": jax.default_backend(),
        "machine": cpu_name(),
        "cpu_count": os.cpu_count(),
        "jax": jax.__version__,
        "date": datetime.date.today().isoformat(),
        "argv": sys.argv[1:],
        "results": [],
    }
    for vmap in args.vmap:
        for members in args.populations:
            row = time_population(cfg, members, vmap, args.steps, args.repeats)
            out["results"].append(row)
            one = [r for r in out["results"] if r["population"] == 1 and r["vmap"] == vmap]
            if one:
                row["cost_vs_one_member"] = (
                    row["ms_per_population_step"] / one[0]["ms_per_population_step"]
                )
            if args.json:  # after every measurement: a run cut short keeps what it measured
                Path(args.json).parent.mkdir(parents=True, exist_ok=True)
                Path(args.json).write_text(json.dumps(out, indent=1) + "\n")
            ratio = f", {row['cost_vs_one_member']:.2f}x one member" if one else ""
            print(
                f"{args.env} P={members} vmap {vmap}: {row['ms_per_population_step']:.2f} ms "
                f"per population step ({row['env_steps_per_s']:.0f} env steps/s{ratio}; "
                f"{row['setup_and_compile_s']:.0f} s to build and compile)",
                flush=True,
            )


if __name__ == "__main__":
    main()
