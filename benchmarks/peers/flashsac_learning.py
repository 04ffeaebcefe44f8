"""Learning curves of the official FlashSAC code (PyTorch) at given widths, in the
layout of ``benchmarks/learning.py``'s ``curves.json``: the same-width anchor beside
simbarl's ``--preset flashsac-small`` (critic 128, actor 64) on one machine.

What runs is the loop of the official ``train.py``, driven from this file with the
official objects (the steps ``official_flashsac.py`` shares with
``flashsac_throughput.py``'s ``official_side``): the config
composed from the official ``configs/`` (``flashSAC_base.yaml``,
``agent/flashSAC.yaml``, ``env/mujoco.yaml``) with the overrides of
``scripts/run_mujoco.sh`` (one env, batch 512, UTD 1, a 1M CPU buffer, 10,000 random
steps before learning, fp32, gamma 0.99, 1-step returns), then

* ``agent.device_type=cpu`` (the yaml says cuda);
* ``agent.critic_hidden_dim`` / ``agent.actor_hidden_dim`` from ``--critic-width`` /
  ``--actor-width`` (default 128 / 64, flashsac-small's; the official 256 / 128 with
  ``--critic-width 256 --actor-width 128``), two blocks each as the official depth;
* ``num_env_steps`` = ``--steps`` (the learning-rate schedule spans it, as simbarl's
  ``--steps``);
* ``agent.buffer_min_length`` = ``--warmup`` (default the official 10,000);
* ``agent.use_compile`` from ``--compile``: ``off`` (eager; the default, faster on the
  project's 2-core CPU in ``results/peers/flashsac_cpu*.json``) or ``auto`` (the
  official ``use_compile: true``); it changes speed, not the algorithm;
* any ``--set KEY=VALUE`` (official dotted keys, e.g. ``agent.learning_rate_peak=1e-4``).

``flash_rl.envs.create_envs`` and ``flash_rl.agents.create_agent`` build the envs and
the agent; the environment variables train.py sets before importing torch (2
OMP/MKL threads, ...) are set the same way; ``--threads`` changes the thread count
(speed only). On the project's 2-core CPU shared with other runs, train.py's 2 threads
spun: fewer than 1,000 updates in 10.7 min (under 1.6 updates/s) at critic 128 / actor
64, against 10.6 updates/s with ``--threads 1`` (smoke of 2026-12-07, HalfCheetah-v4),
so the commands below use 1.
Every ``--eval-every`` env steps (default 10,000, as simbarl's flashsac-small; the
official default is num_env_steps/10) the official ``flash_rl.evaluation.evaluate``
runs ``--eval-episodes`` episodes (default 10, as simbarl's learning runs;
run_mujoco.sh uses 50) on the official eval env.
Left out: the logger, the step-0 evaluation, video recording and checkpoints.

The JSON (``--out``) has learning.py's fields (``preset``, ``algos``, ``steps``,
``overrides``, ``seeds``, ``tasks: {task: {"flashsac": {curve, per_seed, runs}}}``)
plus ``meta`` (widths, evaluation, the official commit) and, per task, ``partial``:
the curve so far of a run that has not finished. It is rewritten (atomically,
re-read first, so several invocations can share it) after every evaluation, so a
killed run keeps its curve there, marked ``finished: false`` in ``runs``. Only
finished seeds enter ``per_seed`` and ``curve`` (mean ± std over seeds). Running a
finished task and seed again skips it; an unfinished one continues from its
checkpoint (``official_checkpoint.py``: the agent with its replay buffer, the envs'
states, the random states and the loop's), written after every evaluation and when
the run is stopped with SIGINT or SIGTERM (between two interaction steps), into
``--checkpoints`` (default ``.OUT_checkpoints`` beside ``--out``, git-ignored; about
180 MB a run, mostly the official 1M-transition buffer, deleted when the run
finishes). The continued run equals the uninterrupted one; ``resumed_at`` in its
``runs`` entry lists where it continued. Each run records its wall clock
(``wall_s``; ``eval_s`` of it evaluating; ``train_seconds`` the rest),
``updates_per_s`` (updates over the time since the first update, evaluations
excluded: the whole loop of acting, env step and update at UTD 1), the CPU, torch
version and date. ``published_mean`` stays null (simbarl.reference is not
importable in the torch venv); the docs generator adds the published curves.

The official code needs torch and stays out of simbarl's install and CI: it runs in
its own virtual environment (here ``/work/venv-torch``)::

    python3 -m venv /work/venv-torch
    /work/venv-torch/bin/pip install -r benchmarks/peers/requirements-flashsac.txt \\
        --extra-index-url https://download.pytorch.org/whl/cpu
    # the official repository (Holiday-Robot/FlashSAC @87edc90, unmodified) on the path
    echo /work/shared/third_party/flashsac > \\
        /work/venv-torch/lib/python3.11/site-packages/flashsac.pth

Issue 44's anchor, one seed per invocation or several (invocations may run side by
side; each merges its own task and seed)::

    /work/venv-torch/bin/python benchmarks/peers/flashsac_learning.py \\
        --tasks HalfCheetah-v4 Hopper-v4 --seeds 0 1 --steps 100000 --threads 1 \\
        --out benchmarks/results/peers/flashsac_learning_cpu.json

and simbarl's side, evaluated at the same steps (learning.py's default is every
20,000; a flashsac preset trains ``flashsac`` without ``--algos``)::

    .venv/bin/python benchmarks/learning.py --preset flashsac-small --algos flashsac \\
        --tasks HalfCheetah-v4 Hopper-v4 --seeds 0 1 --steps 100000 --eval-every 10000 \\
        --out benchmarks/results/flashsac_small

A file made with other settings (widths, budget, evaluation, overrides) is not merged
into: the script stops; give it another ``--out``.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import signal
import statistics
import sys
import tempfile
import time
from pathlib import Path

# benchmarks/peers/ (the official side's shared steps) and benchmarks/ (the jax-free
# machine helpers), beside this file: the torch venv has no simbarl
for _folder in (Path(__file__).resolve().parents[1], Path(__file__).resolve().parent):
    if str(_folder) not in sys.path:
        sys.path.insert(0, str(_folder))
from machine import cpu_name  # noqa: E402
from official_flashsac import (  # noqa: E402
    BATCH,
    RUN_MUJOCO,
    build,
    compose,
    interact,
    set_threads_env,
)

ALGO = "flashsac"  # the algo key of simbarl's --preset flashsac-small --algos flashsac


def label(critic: int, actor: int) -> str:
    """The ``preset`` field: the official code at these widths."""
    return f"official-flashsac-c{critic}-a{actor}"


def settings(args) -> list[str]:
    """The official config overrides every run of this invocation shares (the file's
    ``overrides``): run_mujoco.sh's, then this script's, then ``--set``."""
    return [
        *RUN_MUJOCO,
        "agent.device_type=cpu",
        f"num_env_steps={args.steps}",
        f"agent.buffer_min_length={args.warmup}",
        f"agent.critic_hidden_dim={args.critic_width}",
        f"agent.actor_hidden_dim={args.actor_width}",
        f"agent.use_compile={args.compile == 'auto'}",
        *args.set,
    ]


# ------------------------------------------------------------------ the JSON


def curve_rows(by_seed: dict) -> list[dict]:
    """Mean ± std (population) over seeds at each evaluation step, as learning.py's."""
    rows = []
    for step in sorted({s for c in by_seed.values() for s, _ in c}):
        vals = [r for c in by_seed.values() for s, r in c if s == step]
        rows.append(
            {
                "env_step": step,
                "mean": statistics.fmean(vals),
                "std": statistics.pstdev(vals),
                "n": len(vals),
                "published_mean": None,
                "published_std": None,
            }
        )
    return rows


def _compatible(old: dict, new: dict) -> bool:
    keys = ("preset", "steps", "overrides", "eval_every", "eval_episodes")
    return all(old.get(k) == new[k] for k in keys)


def finished_seeds(path: Path, head: dict, task: str) -> set[int]:
    """The seeds of ``task`` already finished in ``path`` (made with the same settings)."""
    if not path.is_file():
        return set()
    old = json.loads(path.read_text())
    if not _compatible(old, head):
        return set()
    entry = old.get("tasks", {}).get(task, {}).get(ALGO, {})
    return {int(k) for k in entry.get("per_seed", {})}


def merge(
    path: Path, head: dict, task: str, seed: int, curve: list, info: dict, finished: bool
) -> dict:
    """Merge one run's curve (``[(env_step, return), ...]``) and ``info`` into ``path``
    as it is on disk now and write it atomically: a finished run enters ``per_seed`` and
    the mean ``curve``; an unfinished one is kept under ``partial`` (out of the means).

    ``head``: the file's settings (``preset``, ``steps``, ``overrides``, ``eval_every``,
    ``eval_episodes``, ``meta``); a file made with others raises ValueError."""
    old = json.loads(path.read_text()) if path.is_file() else {}
    if old and not _compatible(old, head):
        raise ValueError(
            f"{path} was made with other settings ({old.get('preset')}, {old.get('steps')} "
            f"steps, overrides {old.get('overrides')}): give another --out"
        )
    tasks = old.get("tasks", {})
    entry = tasks.setdefault(task, {}).setdefault(ALGO, {})
    per_seed = {int(k): [tuple(p) for p in v] for k, v in entry.get("per_seed", {}).items()}
    partial = {int(k): v for k, v in entry.get("partial", {}).items()}
    runs = {int(k): v for k, v in entry.get("runs", {}).items()}
    if finished:
        per_seed[seed] = [tuple(p) for p in curve]
        partial.pop(seed, None)
    else:
        per_seed.pop(seed, None)
        partial[seed] = [list(p) for p in curve]
    runs[seed] = {**info, "finished": finished}
    tasks[task][ALGO] = {
        "curve": curve_rows(per_seed),
        "per_seed": {str(k): [list(p) for p in v] for k, v in sorted(per_seed.items())},
        "partial": {str(k): v for k, v in sorted(partial.items())},
        "runs": {str(k): v for k, v in sorted(runs.items())},
    }
    seeds = {int(k) for by_algo in tasks.values() for e in by_algo.values() for k in e["per_seed"]}
    summary = {
        **{k: head[k] for k in ("preset", "steps", "overrides", "eval_every", "eval_episodes")},
        "algos": [ALGO],
        "seeds": sorted(seeds),
        "wall_clock_s": sum(
            r.get("wall_s", 0.0)
            for by_algo in tasks.values()
            for e in by_algo.values()
            for r in e["runs"].values()
        ),
        "meta": head["meta"],
        "tasks": tasks,
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    with os.fdopen(fd, "w") as f:
        f.write(json.dumps(summary, indent=2))
    os.chmod(tmp, 0o644)  # mkstemp's 0600, as a plain write would not
    os.replace(tmp, path)
    return summary


# ----------------------------------------------------------- the official loop


def checkpoint_path(args, task: str, seed: int) -> Path:
    """Where the run of ``task`` and ``seed`` keeps its checkpoint (``--checkpoints``)."""
    return Path(args.checkpoints) / f"{task}-seed{seed}.pkl"


class Stop:
    """SIGINT/SIGTERM set ``requested``; the loop checkpoints and stops between two
    interaction steps (never inside an update). A second signal stops at once."""

    def __init__(self):
        self.requested = False
        signals = (signal.SIGINT, signal.SIGTERM)
        self._old = {sig: signal.signal(sig, self._handle) for sig in signals}

    def _handle(self, signum, frame):
        if self.requested:
            raise KeyboardInterrupt
        self.requested = True
        print("stopping at the next interaction step (checkpoint kept)", flush=True)

    def close(self):
        for sig, old in self._old.items():
            signal.signal(sig, old)


def official_run(args, task: str, seed: int, on_eval) -> None:
    """The official train.py loop on ``task`` and ``seed`` for ``--steps`` env steps,
    calling ``on_eval(curve, info, finished)`` after every evaluation. The run
    checkpoints after every evaluation but the last and when stopped (SIGINT or
    SIGTERM: between two interaction steps) and continues from its checkpoint when
    started again (``official_checkpoint``); a finished run deletes it."""
    import torch
    from flash_rl.evaluation import evaluate
    from official_checkpoint import restore, save

    overrides = settings(args)
    cfg = compose(task, seed, overrides)
    assert cfg.agent.critic_hidden_dim == args.critic_width
    assert cfg.agent.actor_hidden_dim == args.actor_width
    agent, train_env, eval_env = build(cfg)
    envs = {"train": train_env, "eval": eval_env}
    path = checkpoint_path(args, task, seed)

    observations, _ = train_env.reset()
    eval_env.reset()  # a made env steps only after a reset; a checkpoint sets its state
    loop = {
        "overrides": overrides,
        "eval_episodes": args.eval_episodes,
        "interaction_step": 0,
        "observations": observations,
        "transition": None,
        "update_counter": 0,
        "updates": 0,
        "curve": [],
        "resumed_at": [],
        # seconds of the run so far: all, evaluating, learning (since the first update,
        # evaluations left out)
        "clock": {"wall": 0.0, "eval": 0.0, "learn": 0.0},
        "info": {
            "machine": cpu_name(),
            "cpus": os.cpu_count(),
            "torch": torch.__version__,
            "torch_num_threads": torch.get_num_threads(),
            "date": time.strftime("%Y-%m-%d"),
            "started_utc": time.strftime("%Y-%m-%d %H:%M", time.gmtime()),
            "compile_mode": cfg.agent.compile_mode if cfg.agent.use_compile else None,
        },
    }
    if path.is_file():
        agent, saved = restore(path, envs)
        if (saved["overrides"], saved["eval_episodes"]) != (overrides, args.eval_episodes):
            sys.exit(f"{path} was made with other settings: delete it to start {task} again")
        loop = saved
        env_step = loop["interaction_step"] * cfg.num_train_envs
        loop["resumed_at"].append(env_step)
        print(f"{task} seed {seed}: resumed at {env_step} env steps from {path}", flush=True)
    clock, info = loop["clock"], loop["info"]
    stop = Stop()
    total = int(cfg.num_interaction_steps)
    try:
        for interaction_step in range(loop["interaction_step"] + 1, total + 1):
            if stop.requested:
                save(path, agent, envs, loop)
                print(f"{task} seed {seed}: checkpoint at {loop['interaction_step']}", flush=True)
                sys.exit(130)
            t0 = time.perf_counter()
            env_step = interaction_step * cfg.num_train_envs
            loop["observations"], loop["transition"] = interact(
                agent, train_env, cfg, loop["observations"], loop["transition"], interaction_step
            )
            learning = agent.can_start_training()
            if learning:
                loop["update_counter"] += cfg.updates_per_interaction_step
                while loop["update_counter"] >= 1:
                    agent.update()
                    loop["updates"] += 1
                    loop["update_counter"] -= 1
            loop["interaction_step"] = interaction_step
            spent = time.perf_counter() - t0
            clock["wall"] += spent
            clock["learn"] += spent if learning else 0.0
            if env_step % args.eval_every == 0 or interaction_step == total:
                t = time.perf_counter()
                result = evaluate(agent, eval_env, args.eval_episodes, cfg.env.env_type)
                clock["wall"] += time.perf_counter() - t
                clock["eval"] += time.perf_counter() - t
                loop["curve"].append((env_step, result["avg_return"]))
                learn_s = clock["learn"]
                info.update(
                    env_steps=env_step,
                    updates=loop["updates"],
                    wall_s=round(clock["wall"], 1),
                    eval_s=round(clock["eval"], 1),
                    train_seconds=round(clock["wall"] - clock["eval"], 1),
                    updates_per_s=round(loop["updates"] / learn_s, 2) if learn_s > 0 else None,
                    resumed_at=list(loop["resumed_at"]),
                )
                finished = interaction_step == total
                if not finished:
                    save(path, agent, envs, loop)
                on_eval(list(loop["curve"]), dict(info), finished)
                print(
                    f"{task} seed {seed}: {env_step} env steps, return "
                    f"{result['avg_return']:.1f} ({loop['updates']} updates, "
                    f"{info['updates_per_s']} updates/s, {clock['wall']:.0f} s)",
                    flush=True,
                )
    finally:
        stop.close()
        train_env.close()
        eval_env.close()
    path.unlink(missing_ok=True)


def main(argv: list[str] | None = None, run=None) -> None:
    """``run``: the training function (``official_run``; tests pass a fake)."""
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--tasks", nargs="+", default=["HalfCheetah-v4"], help="Gymnasium MuJoCo ids")
    p.add_argument("--seeds", nargs="+", type=int, default=[0])
    p.add_argument("--steps", type=int, default=100_000, help="env steps (num_env_steps)")
    p.add_argument("--warmup", type=int, default=10_000, help="agent.buffer_min_length")
    p.add_argument("--eval-every", type=int, default=10_000)
    p.add_argument("--eval-episodes", type=int, default=10)
    p.add_argument("--critic-width", type=int, default=128, help="agent.critic_hidden_dim")
    p.add_argument("--actor-width", type=int, default=64, help="agent.actor_hidden_dim")
    p.add_argument("--compile", default="off", choices=["off", "auto"], help="torch.compile")
    p.add_argument(
        "--threads", type=int, default=2, help="OMP/MKL threads (train.py's 2); speed only"
    )
    p.add_argument("--set", nargs="+", default=[], metavar="KEY=VALUE", help="official keys")
    p.add_argument("--out", default="benchmarks/results/peers/flashsac_learning_cpu.json")
    p.add_argument(
        "--checkpoints",
        default=None,
        help="folder of the runs' checkpoints (default: .OUT_checkpoints beside --out)",
    )
    args = p.parse_args(argv)
    if args.checkpoints is None:
        out = Path(args.out)
        args.checkpoints = str(out.parent / f".{out.stem}_checkpoints")
    if args.steps % args.eval_every:
        p.error("--steps must be a multiple of --eval-every")
    if run is None:
        set_threads_env(args.threads)
        if args.compile == "off":
            os.environ["TORCHDYNAMO_DISABLE"] = "1"
        run = official_run
    spec = importlib.util.find_spec("flash_rl")  # finds, does not import
    commit = Path(spec.origin).parents[1] / "COMMIT" if spec and spec.origin else Path("-")
    head = {
        "preset": label(args.critic_width, args.actor_width),
        "steps": args.steps,
        "overrides": settings(args),
        "eval_every": args.eval_every,
        "eval_episodes": args.eval_episodes,
        "meta": {
            "code": "official FlashSAC (PyTorch), train.py's loop driven by "
            "benchmarks/peers/flashsac_learning.py",
            "official_commit": commit.read_text().strip() if commit.is_file() else None,
            "widths": {
                "critic_hidden_dim": args.critic_width,
                "actor_hidden_dim": args.actor_width,
                "critic_num_blocks": 2,
                "actor_num_blocks": 2,
            },
            "batch_size": BATCH,
            "updates_per_env_step": 1,
            "warmup_env_steps": args.warmup,
            "compile": args.compile,
            "evaluation": "flash_rl.evaluation.evaluate, deterministic actions",
        },
    }
    out = Path(args.out)
    if out.is_file() and not _compatible(json.loads(out.read_text()), head):
        sys.exit(f"{out} was made with other settings: give another --out")
    for task in args.tasks:
        for seed in args.seeds:
            if seed in finished_seeds(out, head, task):
                print(f"{task} seed {seed}: finished in {out}, skipped", flush=True)
                continue

            def on_eval(curve, info, finished, task=task, seed=seed):
                merge(out, head, task, seed, curve, info, finished)

            run(args, task, seed, on_eval)
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
