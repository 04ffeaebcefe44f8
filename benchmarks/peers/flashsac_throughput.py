"""simbarl's ``--preset flashsac`` against the official FlashSAC code (PyTorch), on one
machine, in one run: updates/s and env steps/s of the whole training loop.

Both sides run FlashSAC's CPU-simulator settings (``scripts/run_mujoco.sh``): one
environment, batch 512, one update per env step (UTD 1), actor 2 blocks x 128, critics
2 blocks x 256 with 101 bins, fp32 (``agent.use_amp=false``), a CPU replay buffer, on
``--env`` (default ``HalfCheetah-v4``). Only the random-action warm-up is shortened
(``--warmup`` steps instead of 10,000, the same on both sides) so that updates start
quickly; it sets when updates begin, not what one costs.

What is timed, per side, is a window of ``--steps`` env steps of the training loop
after the first ``--skip`` learning steps (compilation and first iterations):

* simbarl: ``simbarl train --preset flashsac`` itself (``--steps warmup+skip+steps``,
  no checkpoints, no TensorBoard, evaluation only after the end, 1 episode). The
  figures are the ``perf/env_steps_per_s`` and ``perf/updates_per_s`` of its
  ``metrics.jsonl`` rows, each over ``--log-every`` env steps, combined over the
  rows inside the window (total steps over total seconds).
* official: the loop of the official ``train.py`` (act with
  ``agent.sample_actions``, ``train_env.step``, the final-observation fix-up,
  ``agent.process_transition``, ``agent.update()`` once per step), driven from
  this file with the official objects (the steps in ``official_flashsac.py``,
  shared with ``flashsac_learning.py``): the config composed from the official
  ``configs/`` (base, ``agent/flashSAC.yaml``, ``env/mujoco.yaml``) with the
  overrides of ``run_mujoco.sh`` plus ``agent.device_type=cpu`` (the yaml says
  cuda) and the shorter warm-up; ``flash_rl.envs.create_envs`` and
  ``flash_rl.agents.create_agent``. Left out: its logger, evaluation, video
  recording and checkpoints, which train.py runs only every 10,000 steps or more.
  The environment variables train.py sets before importing torch (2 OMP/MKL
  threads) are set the same way. ``--official-compile`` picks torch.compile as the
  official config has it (``use_compile: true``, mode ``auto`` = max-autotune on
  torch >= 2.9) or off (``TORCHDYNAMO_DISABLE=1``, eager).

The official code needs torch, so it runs in its own virtual environment (see
``requirements-flashsac.txt``)::

    .venv/bin/python benchmarks/peers/flashsac_throughput.py \\
        --official-python .venv-flashsac/bin/python \\
        --json benchmarks/results/peers/flashsac_cpu.json

Every measurement is a fresh process and the rounds alternate (simbarl then
official, then official then simbarl, ...), so drifting load falls on both sides.
The JSON keeps every round; the ratio is of the best rounds with the medians' beside.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

# the official side's shared steps and the drivers' rounds, beside this file (the
# script's own folder is on sys.path already when it runs as a script, as the workers do)
if str(Path(__file__).resolve().parent) not in sys.path:
    sys.path.insert(0, str(Path(__file__).resolve().parent))
from official_flashsac import BATCH, RUN_MUJOCO, build, compose, interact, set_threads_env  # noqa: E402
from rounds import alternating, best_and_median, machine_meta, run_worker, write_json  # noqa: E402


def official_side(args) -> dict:
    """The official train.py loop over the official FlashSAC agent; see the docstring."""
    set_threads_env(2)  # train.py's, before torch is imported
    if args.official_compile == "off":
        os.environ["TORCHDYNAMO_DISABLE"] = "1"
    import torch

    overrides = [  # scripts/run_mujoco.sh (after seed and env name), then this benchmark's
        "num_env_steps=1_000_000",
        *RUN_MUJOCO,
        "agent.device_type=cpu",
        f"agent.buffer_min_length={args.warmup}",
        f"agent.use_compile={args.official_compile == 'auto'}",
    ]
    cfg = compose(args.env, 0, overrides)
    agent, train_env, eval_env = build(cfg)
    eval_env.close()

    observations, _ = train_env.reset()
    transition = None
    update_counter = 0
    updates = 0
    start = args.warmup + args.skip  # the window's first step
    total = start + args.steps
    t_first = t0 = None
    updates0 = 0
    for interaction_step in range(1, total + 1):
        if interaction_step == args.warmup + 1:
            t_first = time.perf_counter()
        if interaction_step == start + 1:
            t0, updates0 = time.perf_counter(), updates
        observations, transition = interact(
            agent, train_env, cfg, observations, transition, interaction_step
        )
        if agent.can_start_training():
            update_counter += cfg.updates_per_interaction_step
            while update_counter >= 1:
                agent.update()  # returns its metrics as floats (.item()), as train.py logs them
                updates += 1
                update_counter -= 1
    seconds = time.perf_counter() - t0
    train_env.close()
    return {
        "side": "official",
        "env_steps_per_s": args.steps / seconds,
        "updates_per_s": (updates - updates0) / seconds,
        "window_env_steps": args.steps,
        "window_s": seconds,
        "first_learning_steps_s": t0 - t_first,
        "compile": args.official_compile,
        "compile_mode": agent._cfg.compile_mode if args.official_compile == "auto" else None,
        "torch": torch.__version__,
        "torch_num_threads": torch.get_num_threads(),
        "omp_num_threads": os.environ["OMP_NUM_THREADS"],
    }


def simbarl_side(args) -> dict:
    """``simbarl train --preset flashsac``; the rates of its metrics rows in the window."""
    with tempfile.TemporaryDirectory() as tmp:
        run_dir = Path(tmp) / "run"
        total = args.warmup + args.skip + args.steps
        cmd = [sys.executable, "-m", "simbarl.cli", "train", "--preset", "flashsac"]
        cmd += ["--env", args.env, "--steps", str(total), "--warmup-steps", str(args.warmup)]
        cmd += ["--batch-size", str(BATCH), "--updates-per-step", "1"]
        cmd += ["--log-every", str(args.log_every), "--eval-every", str(10 * total)]
        cmd += ["--eval-episodes", "1", "--no-checkpoint", "--no-tensorboard"]
        cmd += ["--progress", "plain", "--run-dir", str(run_dir)]
        t = time.perf_counter()
        out = subprocess.run(cmd, capture_output=True, text=True)
        wall = time.perf_counter() - t
        if out.returncode != 0:
            sys.exit(f"simbarl ({' '.join(cmd)}) failed:\n{out.stderr[-3000:]}")
        rows = [json.loads(x) for x in (run_dir / "metrics.jsonl").read_text().splitlines()]
        config = json.loads((run_dir / "config.json").read_text())
    start = args.warmup + args.skip
    rows = [r for r in rows if "perf/updates_per_s" in r]
    window = [r for r in rows if r["env_step"] > start]
    assert window and all(r["env_step"] - args.log_every >= start for r in window), rows
    seconds = sum(args.log_every / r["perf/env_steps_per_s"] for r in window)
    updates = sum(
        r["perf/updates_per_s"] * args.log_every / r["perf/env_steps_per_s"] for r in window
    )
    import jax

    return {
        "side": "simbarl",
        "env_steps_per_s": args.log_every * len(window) / seconds,
        "updates_per_s": updates / seconds,
        "window_env_steps": args.log_every * len(window),
        "window_s": seconds,
        "rows": [
            {k: r[k] for k in ("env_step", "perf/env_steps_per_s", "perf/updates_per_s")}
            for r in rows
        ],
        "process_wall_s": wall,
        "widths": {"actor": config["agent"]["actor"], "critic": config["agent"]["critic"]},
        "batch_size": config["batch_size"],
        "updates_per_step": config["updates_per_step"],
        "jax": jax.__version__,
    }


def run_side(python: str, side: str, args) -> dict:
    cmd = [python, __file__, "--worker", side, "--env", args.env, "--warmup", str(args.warmup)]
    cmd += ["--skip", str(args.skip), "--steps", str(args.steps)]
    cmd += ["--log-every", str(args.log_every), "--official-compile", args.official_compile]
    return run_worker(cmd, side)


def drive(args) -> None:
    if not Path(args.official_python).exists():
        sys.exit(f"no interpreter at {args.official_python}; see requirements-flashsac.txt")
    assert args.skip % args.log_every == 0 and args.steps % args.log_every == 0
    sides = ["simbarl", "official"]
    meta = machine_meta(
        env=args.env,
        batch_size=BATCH,
        updates_per_env_step=1,
        widths="actor 2 blocks x 128, critics 2 blocks x 256 (official)",
        warmup_env_steps=args.warmup,
        skipped_learning_steps=args.skip,
        window_env_steps=args.steps,
        official_compile=args.official_compile,
        rounds=args.rounds,
    )
    rows = {s: [] for s in sides}
    summary: dict = {}
    for r, side in alternating(sides, args.rounds):
        python = args.official_python if side == "official" else sys.executable
        row = run_side(python, side, args)
        rows[side].append(row)
        print(
            f"round {r + 1} {side}: {row['updates_per_s']:.1f} updates/s, "
            f"{row['env_steps_per_s']:.1f} env steps/s",
            flush=True,
        )
        if any(len(rows[s]) <= r for s in sides):
            continue  # the round's other side is still to come
        summary = {"rounds": rows}
        for q in ("updates_per_s", "env_steps_per_s"):
            for s in sides:
                best, median = best_and_median([x[q] for x in rows[s]])
                summary[f"{s}_{q}_best"], summary[f"{s}_{q}_median"] = best, median
            for s in ("best", "median"):
                summary[f"ratio_{q}_{s}"] = (
                    summary[f"simbarl_{q}_{s}"] / summary[f"official_{q}_{s}"]
                )
        write_json(args.json, {"meta": meta, **summary})
    print(json.dumps({k: v for k, v in summary.items() if k != "rounds"}, indent=1), flush=True)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--env", default="HalfCheetah-v4")
    p.add_argument("--warmup", type=int, default=1_000, help="random env steps before learning")
    p.add_argument("--skip", type=int, default=100, help="learning steps before the window")
    p.add_argument("--steps", type=int, default=300, help="env steps (with updates) timed")
    p.add_argument("--log-every", type=int, default=100, help="simbarl's metrics rows")
    p.add_argument("--rounds", type=int, default=2, help="interleaved rounds per side")
    p.add_argument(
        "--official-compile",
        default="off",
        choices=["off", "auto"],
        help="official side: eager (off) or torch.compile as its config (auto)",
    )
    p.add_argument("--official-python", default=".venv-flashsac/bin/python")
    p.add_argument("--json", default=None, help="write the results here")
    p.add_argument(
        "--worker", default=None, choices=["simbarl", "official"], help=argparse.SUPPRESS
    )
    args = p.parse_args()
    if args.worker == "simbarl":
        print(json.dumps(simbarl_side(args)))
    elif args.worker == "official":
        print(json.dumps(official_side(args)))
    else:
        drive(args)


if __name__ == "__main__":
    main()
