"""simbarl against SBX (Stable-Baselines-Jax) on one machine, in one run: updates/s.

Each case times one gradient step per call with the replay draw included, on
both sides, at the same sizes, batch and number of critics:

* ``simbav2``: simbarl's ``simbav2`` SAC (critic 512 wide x 2 blocks with the
  101-bin categorical head, actor 128 x 1 block, two critics) against SBX's SAC
  with ``SimbaPolicy`` (``qf=[512, 512]``, ``pi=[128]``: SimBa v1 blocks, the
  same widths and depths, two critics, a scalar head);
* ``mlp``: simbarl's ``sac-mlp`` (256 x 2, two critics) against SBX's default
  ``MlpPolicy`` SAC (``[256, 256]``, two critics).

SBX needs stable-baselines3 and torch, which stay out of simbarl's install, so
it runs in its own virtual environment (see ``requirements-sbx.txt``)::

    python3 -m venv .venv-sbx && .venv-sbx/bin/pip install -r benchmarks/peers/requirements-sbx.txt
    .venv/bin/python benchmarks/peers/sbx_throughput.py --sbx-python .venv-sbx/bin/python \\
        --json benchmarks/results/peers/sbx_cpu.json

Every measurement is a fresh process (simbarl's from this interpreter, SBX's
from ``--sbx-python``) and the rounds alternate (simbarl then SBX, then SBX then
simbarl, ...), so a load that drifts during the run falls on both sides. Each
process reports its best window of ``--seconds``; the JSON keeps every round,
and the ratio is of the best rounds (the least disturbed) with the median
rounds' ratio beside it.

``--matmul-dtype bfloat16`` also times simbarl with bfloat16 matmuls (an extra
side; SBX has no such option).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

# the drivers' rounds, beside this file (on sys.path already when it runs as a script)
if str(Path(__file__).resolve().parent) not in sys.path:
    sys.path.insert(0, str(Path(__file__).resolve().parent))
from rounds import alternating, best_and_median, machine_meta, run_worker, write_json  # noqa: E402

CASES = {
    # case: (simbarl preset, SBX policy, SBX net_arch)
    "simbav2": ("simbav2", "SimbaPolicy", {"pi": [128], "qf": [512, 512]}),
    "mlp": ("sac-mlp", "MlpPolicy", {"pi": [256, 256], "qf": [256, 256]}),
}
BATCH = 256
CRITICS = 2


def _time_calls(call, sync, seconds: float, windows: int = 3) -> float:
    """Best calls/s over ``windows`` windows of ``seconds / windows`` each."""
    best = 0.0
    for _ in range(windows):
        calls, t0 = 0, time.perf_counter()
        while calls < 3 or time.perf_counter() - t0 < seconds / windows:
            call()
            calls += 1
        sync()
        best = max(best, calls / (time.perf_counter() - t0))
    return best


def _count(tree) -> int:
    import jax
    import numpy as np

    return int(sum(np.prod(x.shape) for x in jax.tree.leaves(tree)))


def simbarl_side(case: str, env: str, seconds: float, matmul_dtype: str) -> dict:
    """simbarl: draw a batch from a full replay ring, then one update, in one jitted call."""
    import dataclasses
    from functools import partial

    import jax
    import jax.numpy as jnp

    from simbarl.config import preset
    from simbarl.normalizers import Normalization
    from simbarl.replay import init_replay
    from simbarl.runs import run_dir as rd
    from simbarl.runs.learner import build_agent
    from simbarl.train.step import draw, prepare

    name = CASES[case][0]
    base = preset(name)
    agent_cfg = dataclasses.replace(base.agent, clipped_double_q=True, matmul_dtype=matmul_dtype)
    base = dataclasses.replace(
        base, env=env, algo="sac", agent=agent_cfg, updates_per_step=1, batch_size=BATCH
    )
    cfg, task = rd.resolve(base)
    agent = build_agent(cfg, task.obs_dim, task.action_dim)
    assert agent.num_critics == CRITICS, agent.num_critics
    learner = agent.init(jax.random.PRNGKey(0))

    capacity = 10_000
    buffer = init_replay(capacity, task.obs_dim, task.action_dim)
    k = jax.random.split(jax.random.PRNGKey(1), 3)
    data = buffer.data.replace(
        obs=jax.random.normal(k[0], buffer.data.obs.shape),
        next_obs=jax.random.normal(k[1], buffer.data.next_obs.shape),
        action=jax.random.uniform(k[2], buffer.data.action.shape, minval=-1, maxval=1),
        reward=jax.random.normal(k[0], buffer.data.reward.shape),
    )
    buffer = buffer.replace(data=data, pos=jnp.asarray(0), size=jnp.asarray(capacity))
    norm = Normalization(jnp.zeros(task.obs_dim), jnp.ones(task.obs_dim), jnp.ones(()))

    @partial(jax.jit, donate_argnums=0)
    def step(learner, buffer):
        key, k_sample = jax.random.split(learner.key)
        tr, horizon, _, weight = draw(buffer, k_sample, (1, BATCH), cfg.replay, 0.99, 1, 1.0)
        learner, metrics, _ = agent.learn(
            learner.replace(key=key), prepare(tr, norm, horizon, weight)
        )
        return learner, metrics["critic/loss"]

    box = {"learner": learner}

    def call():
        box["learner"], _ = step(box["learner"], buffer)

    t = time.perf_counter()
    call()
    jax.block_until_ready(box["learner"])
    compile_s = time.perf_counter() - t
    rate = _time_calls(call, lambda: jax.block_until_ready(box["learner"]), seconds)
    return {
        "side": "simbarl" if matmul_dtype == "float32" else f"simbarl-{matmul_dtype}",
        "preset": name,
        "matmul_dtype": matmul_dtype,
        "updates_per_s": rate,
        "critic_params": _count(learner.critic),
        "actor_params": _count(learner.actor),
        "first_call_s": compile_s,
        "jax": jax.__version__,
    }


def sbx_side(case: str, env: str, seconds: float) -> dict:
    """SBX: ``model.train(gradient_steps=1, batch_size=256)`` after 1,000 random steps."""
    import jax
    import sbx
    from sbx import SAC

    _, policy, arch = CASES[case]
    model = SAC(
        policy,
        env,
        policy_kwargs={"net_arch": arch, "n_critics": CRITICS},
        batch_size=BATCH,
        learning_starts=1_000,
        gradient_steps=1,
        seed=0,
        verbose=0,
    )
    model.learn(total_timesteps=1_000)  # random actions into the replay buffer, no training

    def sync():
        jax.block_until_ready(model.policy.qf_state.params)

    t = time.perf_counter()
    model.train(gradient_steps=1, batch_size=BATCH)
    sync()
    compile_s = time.perf_counter() - t
    rate = _time_calls(lambda: model.train(gradient_steps=1, batch_size=BATCH), sync, seconds)
    return {
        "side": "sbx",
        "policy": policy,
        "net_arch": arch,
        "updates_per_s": rate,
        "critic_params": _count(model.policy.qf_state.params),
        "actor_params": _count(model.policy.actor_state.params),
        "first_call_s": compile_s,
        "sbx": sbx.__version__,
        "jax": jax.__version__,
    }


def run_side(python: str, side: str, case: str, args) -> dict:
    worker, dtype = side.split("-", 1) if side.startswith("simbarl-") else (side, None)
    cmd = [python, __file__, "--worker", worker, "--case", case, "--env", args.env]
    cmd += ["--seconds", str(args.seconds)]
    if dtype:
        cmd += ["--matmul-dtype", dtype]
    return run_worker(cmd, side)


def drive(args) -> None:
    if not Path(args.sbx_python).exists():
        sys.exit(
            f"no SBX interpreter at {args.sbx_python}. Make one with:\n"
            "  python3 -m venv .venv-sbx && "
            ".venv-sbx/bin/pip install -r benchmarks/peers/requirements-sbx.txt"
        )
    sides = ["simbarl", "sbx"] + (
        [f"simbarl-{args.matmul_dtype}"] if args.matmul_dtype != "float32" else []
    )
    meta = machine_meta(
        env=args.env,
        batch_size=BATCH,
        critics=CRITICS,
        gradient_steps_per_call=1,
        seconds_per_measurement=args.seconds,
        rounds=args.rounds,
    )
    results = {}
    for case in args.cases:
        rows = {s: [] for s in sides}
        for r, side in alternating(sides, args.rounds):
            python = args.sbx_python if side == "sbx" else sys.executable
            row = run_side(python, side, case, args)
            rows[side].append(row)
            print(f"{case} round {r + 1} {side}: {row['updates_per_s']:.2f} updates/s", flush=True)
        summary = {"rounds": rows}
        for side in sides:
            best, median = best_and_median([x["updates_per_s"] for x in rows[side]])
            summary[f"{side}_best"], summary[f"{side}_median"] = best, median
        for side in sides:
            if side != "sbx":
                summary[f"{side}_over_sbx_best"] = summary[f"{side}_best"] / summary["sbx_best"]
                summary[f"{side}_over_sbx_median"] = (
                    summary[f"{side}_median"] / summary["sbx_median"]
                )
        results[case] = summary
        print(json.dumps({k: v for k, v in summary.items() if k != "rounds"}), flush=True)
        write_json(args.json, {"meta": meta, "cases": results})


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--cases", nargs="+", default=list(CASES), choices=list(CASES))
    p.add_argument("--env", default="HalfCheetah-v5")
    p.add_argument("--seconds", type=float, default=20.0, help="timing per measurement")
    p.add_argument("--rounds", type=int, default=3, help="interleaved rounds per side")
    p.add_argument("--sbx-python", default=".venv-sbx/bin/python", help="SBX's interpreter")
    p.add_argument("--matmul-dtype", default="float32", choices=["float32", "bfloat16"])
    p.add_argument("--json", default=None, help="write the results here")
    p.add_argument("--worker", default=None, choices=["simbarl", "sbx"], help=argparse.SUPPRESS)
    p.add_argument("--case", default="simbav2", choices=list(CASES), help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.worker == "simbarl":
        print(json.dumps(simbarl_side(args.case, args.env, args.seconds, args.matmul_dtype)))
    elif args.worker == "sbx":
        print(json.dumps(sbx_side(args.case, args.env, args.seconds)))
    else:
        drive(args)


if __name__ == "__main__":
    main()
