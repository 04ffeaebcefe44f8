"""A population's cost: one vmapped call per group of members against one call per member.

Builds the population of ``simbarl evolve`` (members of one shape, each with its
own learning rate and tau, so the hyperparameters really are per-member data)
for 1, 4 and 8 members, runs the shared warm-up and a few learning steps to
compile, then times ``--steps`` population steps while learning: every member
steps its envs, all transitions go into the shared replay, every member runs
its UTD updates and acts. Each size runs vmapped (``--vmap on``, one call per
group) and with ``--vmap off`` (one call per member), in the same process.
Reports ms per population step and per member, and the cost of a population
against ``members x`` the cost of one member. A generation is
``evo_steps / (num_envs x action_repeat)`` population steps plus its fitness
episodes, so the step time sets a generation's wall clock.

    python benchmarks/evolve_vmap.py --json benchmarks/results/evolve_vmap_cpu.json
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import platform
import time

import jax
from throughput import cpu_name  # benchmarks/throughput.py, beside this script

from simbarl.config import preset
from simbarl.evolve import loop
from simbarl.evolve.evolve import _new_population
from simbarl.evolve.spec import EvolveSpec
from simbarl.runs import run_dir as rd


def population(cfg, members: int, vmap: bool) -> loop.Population:
    how = "on" if vmap else "off"
    spec = EvolveSpec(population=members, generations=1, evo_steps=cfg.steps, vmap=how)
    pop = _new_population(cfg, spec, capacity=None)
    for k, m in enumerate(pop.members):  # per-member hyperparameters: data, one shape
        agent = dataclasses.replace(
            m.cfg.agent,
            learning_rate=m.cfg.agent.learning_rate * 1.2**k,
            learning_rate_end=m.cfg.agent.learning_rate_end * 1.2**k,
            tau=m.cfg.agent.tau * 0.8**k,
        )
        m.cfg = dataclasses.replace(m.cfg, agent=agent)
    return pop


def block(pop: loop.Population) -> None:
    jax.block_until_ready([g.learners for g in pop.groups])


def time_steps(cfg, members: int, vmap: bool, steps: int) -> dict:
    t0 = time.perf_counter()
    pop = population(cfg, members, vmap)
    loop.start_generation(pop)
    while pop.iteration < pop.warmup_iters + 3:  # the warm-up, then compile the learning step
        loop.population_step(pop)
    block(pop)
    ready = time.perf_counter() - t0
    t0 = time.perf_counter()
    for _ in range(steps):
        loop.population_step(pop)
    block(pop)
    seconds = time.perf_counter() - t0
    calls = len(pop.groups)
    loop.finish_generation(pop)
    return {
        "members": members,
        "vmap": vmap,
        "calls_per_step": calls,
        "ms_per_population_step": 1000 * seconds / steps,
        "ms_per_member_step": 1000 * seconds / steps / members,
        "setup_and_compile_s": ready,
    }


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--env", default="dmc:cartpole-swingup")
    p.add_argument("--preset", default="simbav2-small")
    p.add_argument("--members", type=int, nargs="+", default=[1, 4, 8])
    p.add_argument("--steps", type=int, default=100, help="timed population steps per case")
    p.add_argument("--json", default=None)
    args = p.parse_args()
    cfg = dataclasses.replace(
        preset(args.preset),
        env=args.env,
        steps=100_000,
        warmup_steps=512,
        checkpoint=False,
        tensorboard=False,
        progress=False,
    )
    cfg, _ = rd.resolve(cfg)
    rows = []
    for members in args.members:
        for vmap in (True, False) if members > 1 else (True,):
            row = time_steps(cfg, members, vmap, args.steps)
            rows.append(row)
            print(
                f"{members} member(s), {'vmapped' if vmap else 'one call each'}: "
                f"{row['ms_per_population_step']:.1f} ms per population step "
                f"({row['ms_per_member_step']:.1f} ms per member; "
                f"{row['calls_per_step']} learner call(s) per step), "
                f"set-up and compile {row['setup_and_compile_s']:.0f} s",
                flush=True,
            )
            add_costs(rows)
            if args.json:  # after every case: a run cut by a time limit keeps what it timed
                write_json(args, cfg, rows)
    if rows and rows[0]["cost_vs_members_x_one"] is not None:
        print("\ncost of a population step against members x one member's:")
        for r in rows:
            how = "vmapped" if r["vmap"] else "one call each"
            print(f"  {r['members']} members, {how}: {r['cost_vs_members_x_one']:.2f}")
    if args.json:
        print(f"wrote {args.json}")


def add_costs(rows: list[dict]) -> None:
    """Each row's cost against members x one member's (None until a one-member row is
    timed)."""
    one = next((r["ms_per_population_step"] for r in rows if r["members"] == 1), None)
    for r in rows:
        r["cost_vs_members_x_one"] = (
            r["ms_per_population_step"] / (r["members"] * one) if one else None
        )


def write_json(args, cfg, rows: list[dict]) -> None:
    """``rows`` and the machine to ``args.json``."""
    out = {
        "env": args.env,
        "preset": args.preset,
        "updates_per_step": cfg.updates_per_step,
        "batch_size": cfg.batch_size,
        "steps_timed": args.steps,
        "rows": rows,
        "meta": {
            "machine": platform.machine(),
            "cpu": cpu_name(),
            "cpus": os.cpu_count(),
            "device": jax.devices()[0].device_kind,
            "jax": jax.__version__,
            "date": time.strftime("%Y-%m-%d"),
        },
    }
    with open(args.json, "w") as f:
        json.dump(out, f, indent=1)


if __name__ == "__main__":
    main()
