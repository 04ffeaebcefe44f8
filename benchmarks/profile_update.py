"""Where one update's time goes: a trace of the compiled update, op by op, in groups.

Runs ``--updates`` updates of a preset's jitted ``update_many`` (random batches,
one update per call) under ``jax.profiler``, reads every XLA op's duration from
the trace and groups them:

* ``matmul``: dots, and fusions that contain one (on CPU, XLA's ``ynn_fusion``s
  around a dot; XLA:CPU also builds ``ynn_fusion``s of elementwise work and
  reductions alone, which are grouped by their shape below);
* ``parameter-sized``: other ops traced outside the networks: Adam, the weight
  projection, the target EMA, and broadcasts XLA materializes for them;
* ``activation-sized``: ops traced inside a network's forward or backward pass
  (normalizations, ReLU, the categorical head's softmax and projection, their
  gradients);
* ``other``: the rest (small ops, copies of scalars).

An op is inside a network when its XLA ``op_name`` (the traced path JAX records)
passes through a flax module (a capitalized name) or a ``jvp``/``transpose`` of one;
ops without one are grouped by shape: an axis of the batch size (or of twice it,
FlashSAC's stacked batch) makes them activation-sized.

Sums of op durations can exceed the wall time: XLA:CPU runs independent ops
side by side. Also printed: XLA's own cost analysis of the compiled update
(FLOPs and bytes it reads and writes) and the update's rate without the
profiler. ``--set agent.matmul_dtype=bfloat16`` profiles the bfloat16 path.

    python benchmarks/profile_update.py --preset simbav2 --env HalfCheetah-v5 \\
        --json benchmarks/results/profile_update_cpu.json
    python benchmarks/profile_update.py --preset flashsac --env HalfCheetah-v4 \\
        --json benchmarks/results/profile_update_cpu_flashsac.json
"""

from __future__ import annotations

import argparse
import collections
import dataclasses
import glob
import gzip
import json
import math
import os
import platform
import re
import tempfile
import time
from pathlib import Path

import jax
from throughput import cpu_name, matmul_gflops, random_batch

from simbarl.analysis.flops import update_flops
from simbarl.config import apply_overrides, config_from_dict, config_to_dict, preset
from simbarl.runs import run_dir as rd
from simbarl.runs.learner import build_agent

GROUPS = ("matmul", "parameter-sized", "activation-sized", "other")


def op_shapes(hlo: str) -> tuple[dict[str, list[int]], set[str], dict[str, str]]:
    """``op name -> output dims`` from the compiled HLO text, the ops that are or
    contain a matmul (a fusion whose computation has a ``dot``), and ``op name ->
    op_name`` metadata (the traced JAX path), where XLA kept one."""
    shapes, paths = {}, {}
    for m in re.finditer(r"%([\w.\-]+) = \w+\[([\d,]*)\][^\n]*", hlo):
        shapes[m.group(1)] = [int(d) for d in m.group(2).split(",") if d]
        path = re.search(r'op_name="([^"]*)"', m.group(0))
        if path:
            paths[m.group(1)] = path.group(1)
    computations = {}
    for block in hlo.split("\n\n"):
        m = re.match(r"%?([\w.\-]+) ", block.strip())
        if m:
            computations[m.group(1)] = block
    dots = set()
    for m in re.finditer(r"%([\w.\-]+) = [^\n]*?\b(dot|fusion)\(([^\n]*)", hlo):
        called = re.search(r"calls=%([\w.\-]+)", m.group(3))
        if m.group(2) == "dot" or (called and " dot(" in computations.get(called.group(1), "")):
            dots.add(m.group(1))
    return shapes, dots, paths


def in_network(path: str) -> bool:
    """Whether a traced JAX path (``jit(f)/while/body/jvp(Actor)/Encoder_0/mul``) runs
    inside a flax module: a capitalized segment, or a ``jvp``/``transpose``/``vmap`` of
    one."""
    return any(
        part[:1].isupper() or re.match(r"[a-z_]+\((?:[a-z_]+\()*[A-Z]", part)
        for part in path.split("/")
    )


def group_of(
    name: str, dims: list[int] | None, batch: int, dots: set[str], path: str | None = None
) -> str:
    if name in dots:
        return "matmul"
    if dims is None or math.prod(dims) < 4096:
        return "other"
    if path is not None:
        return "activation-sized" if in_network(path) else "parameter-sized"
    return "activation-sized" if {batch, 2 * batch} & set(dims) else "parameter-sized"


def profile(cfg, task, updates: int, batch_size: int) -> dict:
    agent = build_agent(cfg, task.obs_dim, task.action_dim)
    state = agent.init(jax.random.PRNGKey(0))
    batch = random_batch(task, 1, batch_size)
    compiled = agent.update_many.lower(state, batch).compile()
    cost = compiled.cost_analysis()
    cost = cost[0] if isinstance(cost, list) else cost
    for _ in range(3):
        state, _ = agent.update_many(state, batch)
    jax.block_until_ready(state)
    t0 = time.perf_counter()
    for _ in range(updates):
        state, _ = agent.update_many(state, batch)
    jax.block_until_ready(state)
    wall = (time.perf_counter() - t0) / updates

    with tempfile.TemporaryDirectory() as tmp:
        jax.profiler.start_trace(tmp, create_perfetto_trace=True)
        for _ in range(updates):
            state, _ = agent.update_many(state, batch)
        jax.block_until_ready(state)
        jax.profiler.stop_trace()
        trace = sorted(glob.glob(f"{tmp}/**/*.trace.json.gz", recursive=True))[-1]
        events = json.load(gzip.open(trace))["traceEvents"]

    shapes, dots, paths = op_shapes(compiled.as_text())
    per_op: collections.Counter = collections.Counter()
    for e in events:
        name = e.get("name", "")
        if e.get("ph") == "X" and name in shapes:  # XLA ops only, not runtime spans
            per_op[name] += e.get("dur", 0) / 1e3 / updates  # ms per update
    groups = dict.fromkeys(GROUPS, 0.0)
    for name, ms in per_op.items():
        groups[group_of(name, shapes.get(name), batch_size, dots, paths.get(name))] += ms
    flop = update_flops(
        cfg.algo, state.actor, state.critic, batch_size, agent.num_critics, agent.policy_delay
    )
    top = {g: [] for g in GROUPS}  # the largest ops of each group
    for n, ms in per_op.most_common():
        g = group_of(n, shapes.get(n), batch_size, dots, paths.get(n))
        if len(top[g]) < 10:
            top[g].append({"op": n, "ms": ms, "shape": shapes.get(n)})
    return {
        "updates_per_s": 1.0 / wall,
        "ms_per_update": wall * 1e3,
        "op_ms_per_update": groups,
        "op_ms_sum": sum(groups.values()),
        "matmul_gflop_per_update": flop / 1e9,
        "xla_cost_flops": float(cost.get("flops", 0.0)),
        "xla_cost_bytes_accessed": float(cost.get("bytes accessed", 0.0)),
        "top_ops": top,
    }


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--preset", default="simbav2")
    p.add_argument("--env", default="HalfCheetah-v5")
    p.add_argument("--algo", default=None, help="default: the preset's (sac, or flashsac)")
    p.add_argument(
        "--critics",
        nargs="+",
        type=int,
        default=None,
        help="1: one critic, 2: two (default: both; flashsac always has two)",
    )
    p.add_argument("--updates", type=int, default=10)
    p.add_argument("--set", nargs="+", default=[], metavar="KEY=VALUE")
    p.add_argument("--json", default=None)
    args = p.parse_args()
    args.algo = args.algo or preset(args.preset).algo
    if args.critics is None:
        args.critics = [2] if args.algo == "flashsac" else [1, 2]
    if args.algo == "flashsac" and args.critics != [2]:
        p.error("--algo flashsac always has two critics: leave --critics out or give 2")

    limit = matmul_gflops()
    print(f"float32 matmul limit {limit:.0f} GFLOP/s")
    rows = []
    for critics in args.critics:
        base = dataclasses.replace(preset(args.preset), env=args.env, algo=args.algo)
        overrides = [*args.set, f"agent.clipped_double_q={'true' if critics == 2 else 'false'}"]
        base = config_from_dict(apply_overrides(config_to_dict(base), overrides))
        cfg, task = rd.resolve(dataclasses.replace(base, updates_per_step=1))
        row = {"preset": args.preset, "algo": args.algo, "critics": critics, "overrides": args.set}
        row.update(profile(cfg, task, args.updates, cfg.batch_size))
        row["fraction_of_matmul_limit"] = (
            row["updates_per_s"] * row["matmul_gflop_per_update"] / limit
        )
        rows.append(row)
        groups = ", ".join(f"{k} {v:.1f}" for k, v in row["op_ms_per_update"].items())
        print(
            f"{critics} critic(s): {row['ms_per_update']:.1f} ms/update "
            f"({row['fraction_of_matmul_limit']:.2f} of the matmul limit); op ms: {groups}"
        )
        for group, ops in row["top_ops"].items():
            for op in ops[:6]:
                print(f"   {op['ms']:6.2f} ms  {group:16s} {op['op']} {op['shape']}")
    if args.json:
        meta = {
            "machine": platform.processor() or platform.machine(),
            "cpu": cpu_name(),
            "cpus": os.cpu_count(),
            "device": jax.devices()[0].device_kind,
            "jax": jax.__version__,
            "env": args.env,
            "matmul_gflops": limit,
            "date_utc": time.strftime("%Y-%m-%d %H:%M", time.gmtime()),
        }
        Path(args.json).parent.mkdir(parents=True, exist_ok=True)
        Path(args.json).write_text(json.dumps({"meta": meta, "results": rows}, indent=2))


if __name__ == "__main__":
    main()
