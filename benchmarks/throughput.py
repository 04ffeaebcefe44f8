"""Update and whole-loop throughput of every algorithm and preset, against the matmul limit.

For each preset and algorithm (``--algos``, default sac td3 ddpg tqc; a preset whose
networks belong to one algorithm, ``flashsac``, is measured with that one): updates/s
of the jitted ``update_many`` (the preset's batch, 256 or flashsac's 512, and its UTD
per call), agent steps/s of the whole training loop after the random warm-up, the
matmul GFLOP per update counted from layer shapes, and a float32 matmul's GFLOP/s
measured in the same run, so the fraction of the machine's arithmetic limit reached
is known. ``layer_matmul_gflops`` is the rate of the update's own matmul shapes
(the batch against each layer, forward and backward): the limit this update
could reach with zero other work.

    python benchmarks/throughput.py --json benchmarks/results/throughput_cpu.json

``--rounds N`` alternates the update-alone and whole-loop timings N times and
records each round's loop/update ratio: on a shared machine the two measured a
run apart can differ by the machine's drift more than by the loop's own cost.

``--ab KEY=VALUE ...`` instead compares the preset with and without config
overrides (such as ``replay.recency_decay_steps=80000``): in ``--ab-rounds``
interleaved rounds (A B, then B A, ...) it times the whole loop and the replay
draw alone (``draw`` of a UTD x batch sample, n-step included, from a full ring of
``--ab-capacity`` slots), and reports medians and the ratio B / A. Interleaving
spreads a shared machine's drifting load over both sides.

    python benchmarks/throughput.py --presets simbav2-small --algos sac --loop-steps 300 \\
        --ab replay.recency_decay_steps=80000 --json benchmarks/results/recency_speed_cpu.json
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import platform
import tempfile
import time
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
from machine import cpu_name  # noqa: F401  (benchmarks/machine.py; the others import it from here)

from simbarl.agents import Batch
from simbarl.analysis.flops import update_flops
from simbarl.config import apply_overrides, config_from_dict, config_to_dict, num_critics, preset
from simbarl.replay import init_replay
from simbarl.runs import run_dir as rd
from simbarl.runs.learner import build_agent
from simbarl.runs.metrics import read_metrics
from simbarl.train.run import train
from simbarl.train.step import draw


def matmul_gflops(n: int = 2048, seconds: float = 3.0) -> float:
    """Best float32 ``n x n @ n x n`` rate over a few timed rounds."""
    a = jax.random.normal(jax.random.PRNGKey(0), (n, n), jnp.float32)
    f = jax.jit(lambda x: x @ x)
    f(a).block_until_ready()
    best, deadline = 0.0, time.time() + seconds
    while time.time() < deadline:
        t = time.perf_counter()
        f(a).block_until_ready()
        best = max(best, 2 * n**3 / (time.perf_counter() - t) / 1e9)
    return best


def _kernel_shapes(params) -> list[tuple[int, int]]:
    """``(in, out)`` of every kernel, once per ensemble member."""
    shapes = []
    for path, leaf in jax.tree_util.tree_flatten_with_path(params)[0]:
        if getattr(path[-1], "key", None) == "kernel":
            shapes += [leaf.shape[-2:]] * int(np.prod(leaf.shape[:-2]))
    return shapes


def layer_matmul_gflops(state, batch: int, seconds: float = 0.3) -> float:
    """GFLOP/s of the update's own matmul shapes, weighted as the update uses them.

    Per update a critic kernel runs 3 forward ``(b,in)@(in,out)``, 2 input
    gradients ``(b,out)@(out,in)`` and 1 weight gradient ``(in,b)@(b,out)``; an
    actor kernel 2 forward, 1 input and 1 weight gradient (``analysis.flops``).
    Small matmuls run below the big square one, so this is the arithmetic limit
    the update itself can reach.
    """
    f = jax.jit(lambda a, b: a @ b)
    cache: dict[tuple[int, int, int], float] = {}

    def rate(m, k, n):  # seconds per matmul, best of a few
        if (m, k, n) not in cache:
            a, b = jnp.ones((m, k)), jnp.ones((k, n))
            f(a, b).block_until_ready()
            best, deadline = float("inf"), time.time() + seconds
            while time.time() < deadline:
                t = time.perf_counter()
                f(a, b).block_until_ready()
                best = min(best, time.perf_counter() - t)
            cache[(m, k, n)] = best
        return cache[(m, k, n)]

    flop = secs = 0.0
    for params, (fwd, dx) in ((state.critic, (3, 2)), (state.actor, (2, 1))):
        for i, o in _kernel_shapes(params):
            flop += 2 * batch * i * o * (fwd + dx + 1)
            secs += fwd * rate(batch, i, o) + dx * rate(batch, o, i) + rate(i, batch, o)
    return flop / secs / 1e9


def random_batch(task, utd: int, b: int) -> Batch:
    """A ``(utd, b)`` batch of random transitions of ``task``'s sizes."""
    k = jax.random.split(jax.random.PRNGKey(1), 3)
    return Batch(
        obs=jax.random.normal(k[0], (utd, b, task.obs_dim)),
        action=jax.random.uniform(k[1], (utd, b, task.action_dim), minval=-1, maxval=1),
        reward=jax.random.normal(k[2], (utd, b)),
        next_obs=jax.random.normal(k[0], (utd, b, task.obs_dim)),
        terminated=jnp.zeros((utd, b)),
    )


def update_rate(cfg, task, seconds: float) -> tuple[float, float, float]:
    """(updates/s, GFLOP per update, layer-shape matmul GFLOP/s) of the scanned update."""
    agent = build_agent(cfg, task.obs_dim, task.action_dim)
    state = agent.init(jax.random.PRNGKey(0))
    utd, b = cfg.updates_per_step, cfg.batch_size
    batch = random_batch(task, utd, b)
    a = cfg.agent
    gflop = (
        update_flops(cfg.algo, state.actor, state.critic, b, agent.num_critics, a.policy_delay)
        / 1e9
    )
    state, m = agent.update_many(state, batch)
    jax.block_until_ready(state)
    calls, t0 = 0, time.perf_counter()
    while calls < 3 or time.perf_counter() - t0 < seconds:
        state, m = agent.update_many(state, batch)
        calls += 1
    jax.block_until_ready(state)
    ups = calls * utd / (time.perf_counter() - t0)
    return ups, gflop, layer_matmul_gflops(state, b)


def loop_rate(cfg, learn_agent_steps: int) -> float:
    """Agent steps/s of the whole loop, measured after the warm-up and compile."""
    repeat = cfg.action_repeat
    warm = 1000
    steps = (warm + learn_agent_steps) * repeat
    with tempfile.TemporaryDirectory() as tmp:
        run = dataclasses.replace(
            cfg,
            steps=steps,
            warmup_steps=warm,
            eval_every=10**9,
            eval_episodes=1,
            log_every=max(learn_agent_steps * repeat // 4, repeat),
            progress=False,
            tensorboard=False,
            checkpoint=False,
            run_dir=str(Path(tmp) / "run"),
        )
        train(run)
        rows = [r for r in read_metrics(Path(tmp) / "run") if "perf/env_steps_per_s" in r]
    # Skip the first learning row: it holds the update's compilation.
    learning = [r for r in rows if r["agent_step"] > warm][1:]
    return float(np.mean([r["perf/env_steps_per_s"] for r in learning])) / repeat


def draw_rate(cfg, task, capacity: int, seconds: float, reps: int = 50) -> float:
    """Samples/s of ``draw`` alone (``reps`` ``(utd, batch)`` samples scanned in one
    jitted call, so dispatch is amortized) from a full ring of ``capacity`` slots:
    the sampler's own cost, apart from the update."""
    buffer = init_replay(capacity, task.obs_dim, task.action_dim, cfg.replay.prioritized)
    buffer = buffer.replace(pos=jnp.asarray(capacity // 3), size=jnp.asarray(capacity))
    shape = (cfg.updates_per_step, cfg.batch_size)

    @jax.jit
    def f(buffer, key):
        def one(total, k):
            tr, *_ = draw(buffer, k, shape, cfg.replay, 0.99, cfg.num_envs, 1.0)
            return total + tr.reward.sum() + tr.obs.sum(), None  # gathered fields stay live

        return jax.lax.scan(one, jnp.zeros(()), jax.random.split(key, reps))[0]

    key = jax.random.PRNGKey(0)
    warm = time.perf_counter()
    while time.perf_counter() - warm < min(1.0, seconds / 4):  # compile, then settle
        f(buffer, key).block_until_ready()
    calls, t0 = 0, time.perf_counter()
    while calls < 3 or time.perf_counter() - t0 < seconds:
        f(buffer, jax.random.fold_in(key, calls)).block_until_ready()
        calls += 1
    return calls * reps / (time.perf_counter() - t0)


def ab_compare(base, name: str, args) -> dict:
    """Loop and draw rates of ``base`` (A) and ``base`` with ``args.ab`` (B), interleaved."""
    a, task = rd.resolve(base)
    b, _ = rd.resolve(config_from_dict(apply_overrides(config_to_dict(base), args.ab)))
    n = args.loop_steps or 300
    rates = {k: {"loop": [], "draw": []} for k in "AB"}
    updates = []  # the update alone, the same for A and B: the scale of a draw's cost
    for r in range(args.ab_rounds):
        updates.append(update_rate(a, task, args.seconds)[0])
        for label in "AB" if r % 2 == 0 else "BA":
            cfg = a if label == "A" else b
            rates[label]["draw"].append(draw_rate(cfg, task, args.ab_capacity, args.seconds))
            if not args.no_loop:
                rates[label]["loop"].append(loop_rate(cfg, n))
            print(label, {k: v[-1] for k, v in rates[label].items() if v}, flush=True)
    med = lambda v: float(np.median(v)) if v else None
    row = {"preset": name, "algo": a.algo, "env": args.env, "B_overrides": list(args.ab)}
    row.update(updates_per_step=a.updates_per_step, batch_size=a.batch_size, n_step=a.replay.n_step)
    row.update(ab_capacity=args.ab_capacity, loop_learning_steps=n, rounds=args.ab_rounds)
    row["updates_per_s"] = updates
    for label in "AB":  # time of one (utd, batch) draw / time of the utd updates it feeds
        utd = a.updates_per_step
        share = [u / (utd * d) for u, d in zip(updates, rates[label]["draw"], strict=True)]
        row[f"{label}_draw_time_over_update_time"] = med(share)
    for k in ("draw", "loop"):
        unit = "draws_per_s" if k == "draw" else "agent_steps_per_s"
        row[f"A_{k}_{unit}"], row[f"B_{k}_{unit}"] = rates["A"][k], rates["B"][k]
        if rates["A"][k]:  # best-of: the least disturbed figure on a shared machine
            row[f"{k}_ratio_B_over_A_median"] = med(rates["B"][k]) / med(rates["A"][k])
            row[f"{k}_ratio_B_over_A_best"] = max(rates["B"][k]) / max(rates["A"][k])
    return row


def measure(base, name: str, args) -> dict:
    """One preset and algorithm: the update alone, then (unless ``--no-loop``) the whole
    loop; with ``--rounds N`` the two alternate N times and the row holds the medians
    and each round's loop/update ratio, timed minutes apart instead of a run apart."""
    cfg, task = rd.resolve(base)
    rates, loops = [], []
    for _ in range(args.rounds):
        ups, gflop, layer_limit = update_rate(cfg, task, args.seconds)
        rates.append(ups)
        if not args.no_loop:
            n = args.loop_steps or (300 if cfg.agent.critic.width >= 512 else 3000)
            loops.append(loop_rate(cfg, n) * cfg.updates_per_step)
    ups = float(np.median(rates))
    row = {
        "preset": name,
        "overrides": list(args.set),
        "algo": cfg.algo,
        "env": args.env,
        "num_critics": num_critics(cfg.algo, cfg.agent),
        "policy_delay": cfg.agent.policy_delay,
        "updates_per_step": cfg.updates_per_step,
        "batch_size": cfg.batch_size,
        "updates_per_s": ups,
        "gflop_per_update": gflop,
        "layer_matmul_gflops": layer_limit,
        "fraction_of_layer_matmul_limit": ups * gflop / layer_limit,
    }
    if args.rounds > 1:
        row["rounds_updates_per_s"] = rates
    if loops:
        row["loop_updates_per_s"] = float(np.median(loops))
        row["agent_steps_per_s"] = row["loop_updates_per_s"] / cfg.updates_per_step
        if args.rounds > 1:
            row["rounds_loop_updates_per_s"] = loops
            ratios = [lp / u for lp, u in zip(loops, rates, strict=True)]
            row["loop_over_update_median"] = float(np.median(ratios))
    return row


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--presets", nargs="+", default=["simbav2", "simbav2-small", "flashsac"])
    p.add_argument("--algos", nargs="+", default=["sac", "td3", "ddpg", "tqc"])
    p.add_argument("--env", default="dmc:cartpole-swingup")
    p.add_argument("--seconds", type=float, default=20.0, help="timing per update measurement")
    p.add_argument(
        "--loop-steps",
        type=int,
        default=None,
        help="learning agent steps timed in the loop (default: by preset)",
    )
    p.add_argument("--no-loop", action="store_true", help="skip the whole-loop measurement")
    p.add_argument(
        "--rounds",
        type=int,
        default=1,
        help="alternate the update-alone and whole-loop timings this many times (medians, "
        "and the loop/update ratio of each round)",
    )
    p.add_argument(
        "--set",
        nargs="+",
        default=[],
        metavar="KEY=VALUE",
        help="config fields of every measurement (agent.matmul_dtype=bfloat16)",
    )
    p.add_argument("--json", default=None, help="write the results here")
    p.add_argument("--ab", nargs="+", default=None, metavar="KEY=VALUE", help="A/B: see above")
    p.add_argument("--ab-rounds", type=int, default=3, help="A/B: interleaved rounds")
    p.add_argument("--ab-capacity", type=int, default=1_000_000, help="A/B: ring slots")
    args = p.parse_args()

    limit = matmul_gflops()
    print(f"device {jax.devices()[0].device_kind}, float32 matmul {limit:.1f} GFLOP/s")
    meta = {
        "machine": platform.processor() or platform.machine(),
        "device": jax.devices()[0].device_kind,
        "jax": jax.__version__,
        "cpus": os.cpu_count(),
        "date_utc": time.strftime("%Y-%m-%d %H:%M", time.gmtime()),
    }
    results = []
    for name in args.presets:
        for algo in algos_of(name, args.algos):
            base = dataclasses.replace(preset(name), env=args.env, algo=algo)
            if args.set:
                base = config_from_dict(apply_overrides(config_to_dict(base), args.set))
            if args.ab:
                row = ab_compare(base, name, args)
                print(json.dumps(row), flush=True)
                results.append(row)
                _write(args.json, meta, results)
                continue
            row = measure(base, name, args)
            row["matmul_gflops"] = limit
            row["fraction_of_matmul_limit"] = row["updates_per_s"] * row["gflop_per_update"] / limit
            print(json.dumps(row), flush=True)
            results.append(row)
            _write(args.json, meta, results)


def algos_of(name: str, algos: list[str]) -> list[str]:
    """The algorithms a preset is measured with: FlashSAC's networks train with its
    update only (``--preset flashsac``); the other presets' with each asked for."""
    if preset(name).algo == "flashsac":
        return ["flashsac"]
    return [a for a in algos if a != "flashsac"]


def _write(path: str | None, meta: dict, results: list) -> None:
    """After every row: a run cut short keeps what it measured."""
    if path:
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        Path(path).write_text(json.dumps({"meta": meta, "results": results}, indent=2))


if __name__ == "__main__":
    main()
