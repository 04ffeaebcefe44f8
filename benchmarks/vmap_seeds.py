"""Seeds in one vmapped learner (--vmap-seeds N) against N separate processes.

Trains N seeds of one task both ways for the same budget and reports the
steady-state training rate summed over seeds (env steps/s, from each run's
last logged ``perf/env_steps_per_s``, which excludes compilation), and the
wall clock of each way including start-up and compilation.

    python benchmarks/vmap_seeds.py --seeds 3 --steps 6000 --json benchmarks/results/vmap_cpu.json
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import jax

from simbarl.config import config_to_dict, preset
from simbarl.runs.metrics import read_metrics
from simbarl.train.run import train


def rate(run_dir: Path) -> float:
    rows = [r for r in read_metrics(run_dir) if "perf/env_steps_per_s" in r]
    return rows[-1]["perf/env_steps_per_s"]


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--env", default="dmc:cartpole-swingup")
    p.add_argument("--preset", default="simbav2-small")
    p.add_argument("--seeds", type=int, default=3)
    p.add_argument("--steps", type=int, default=6000, help="env steps per seed")
    p.add_argument("--json", default=None)
    args = p.parse_args()
    base = dataclasses.replace(
        preset(args.preset),
        env=args.env,
        steps=args.steps,
        warmup_steps=min(1000, args.steps // 4),
        log_every=max(args.steps // 4, 1),
        eval_every=args.steps,
        eval_episodes=1,
        checkpoint=False,
        tensorboard=False,
        progress=False,
    )
    out: dict = {
        "env": args.env,
        "preset": args.preset,
        "seeds": args.seeds,
        "steps_per_seed": args.steps,
        "device": str(jax.devices()[0]),
        "machine": platform.processor() or platform.machine(),
        "cpu_count": os.cpu_count(),
    }
    with tempfile.TemporaryDirectory() as tmp:
        start = time.time()
        group = train(dataclasses.replace(base, vmap_seeds=args.seeds, run_dir=f"{tmp}/group"))
        out["vmapped_wall_s"] = time.time() - start
        out["vmapped_env_steps_per_s"] = sum(rate(r.run_dir) for r in group.seeds)

        cfgs = [
            dataclasses.replace(base, seed=k, run_dir=f"{tmp}/alone{k}") for k in range(args.seeds)
        ]
        env = dict(os.environ)
        if jax.default_backend() == "cpu":  # split the cores between the processes
            env.setdefault("XLA_FLAGS", "--xla_cpu_multi_thread_eigen=false")
        else:
            env["XLA_PYTHON_CLIENT_PREALLOCATE"] = "false"
        start = time.time()
        procs = []
        for c in cfgs:
            code = (
                "import json, sys; from simbarl.config import config_from_dict; "
                "from simbarl.train.run import train; "
                "train(config_from_dict(json.loads(sys.argv[1])))"
            )
            arg = json.dumps(config_to_dict(c))
            procs.append(subprocess.Popen([sys.executable, "-c", code, arg], env=env))
        for proc in procs:
            if proc.wait() != 0:
                raise SystemExit(f"a separate run failed (exit {proc.returncode})")
        out["separate_wall_s"] = time.time() - start
        out["separate_env_steps_per_s"] = sum(rate(Path(c.run_dir)) for c in cfgs)
    out["speedup"] = out["vmapped_env_steps_per_s"] / out["separate_env_steps_per_s"]
    print(
        f"{args.seeds} seeds of {args.env} ({args.preset}) on {out['device']}:\n"
        f"  vmapped:  {out['vmapped_env_steps_per_s']:8.1f} env steps/s summed, "
        f"{out['vmapped_wall_s']:.0f} s wall\n"
        f"  separate: {out['separate_env_steps_per_s']:8.1f} env steps/s summed, "
        f"{out['separate_wall_s']:.0f} s wall\n"
        f"  vmapped / separate: {out['speedup']:.2f}x"
    )
    if args.json:
        Path(args.json).parent.mkdir(parents=True, exist_ok=True)
        Path(args.json).write_text(json.dumps(out, indent=1))


if __name__ == "__main__":
    main()
