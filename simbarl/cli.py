"""Command line: ``simbarl train | eval | presets``.

``simbarl train`` is generated from ``TrainConfig`` (every field is a flag);
``--preset NAME`` picks the starting values and ``--resume RUN_DIR`` continues
a run from its checkpoint.
"""

from __future__ import annotations

import argparse
import contextlib
import ctypes.util
import importlib
import os
import signal
import sys
import threading
import warnings

USAGE = """usage: simbarl COMMAND [options]

commands:
  train     train an agent online     (simbarl train --help)
  eval      evaluate a run directory  (simbarl eval --help)
  presets   list the named presets and their budgets
  tasks     list the 57 benchmark tasks and their score normalization
  sweep     run tasks x configs x seeds locally or on Ray (simbarl sweep --help)
  scores    score tables of a sweep's results.csv  (simbarl scores --help)
  plot      learning curves and aggregate intervals of a results.csv  (simbarl plot --help)
  analyze   training-dynamics figure (norms, effective LR, dormant units, rank) of runs
            (simbarl analyze --help)
  collect   record a run's policy as a Minari dataset  (simbarl collect --help)
  export    a run's policy as an ONNX model or a policy-only file  (simbarl export --help)
  export-replay  a run's replay buffer as a Minari dataset  (simbarl export-replay --help)
  offline   train on a dataset with behaviour cloning  (simbarl offline --help)
  tune      hyperparameter search with Optuna  (simbarl tune --help)
  evolve    evolutionary population training on a shared replay  (simbarl evolve --help)

quick start:  simbarl train            (SimbaV2-SAC, simbav2-small, dmc:cartpole-swingup)
"""


def _quiet() -> None:
    # dm_control imports GLFW, which warns on machines without a display.
    warnings.filterwarnings("ignore", message=".*DISPLAY.*")
    warnings.filterwarnings("ignore", category=DeprecationWarning)


def train_cli(argv: list[str]) -> int:
    import dataclasses

    import tyro

    from simbarl.config import DEFAULT_PRESET, PRESET_ALIASES, PRESETS, config_flags, preset_name
    from simbarl.train.command import (
        no_progress_flag,
        run_reporting_errors,
        start_config,
        with_overrides,
    )

    pre = argparse.ArgumentParser(add_help=False)
    pre.add_argument("--preset", default=None)
    pre.add_argument("--resume", default=None)
    pre.add_argument("--init-from", default=None)
    pre.add_argument("--config", default=None)
    known, rest = pre.parse_known_args(argv)
    try:
        sets, rest = config_flags(no_progress_flag(rest), dotted=False)  # tyro reads the rest
        base = start_config(known.preset, known.config, known.init_from, known.resume)
        base = with_overrides(base, sets)
    except ValueError as e:
        print(f"simbarl train: error: {e}", file=sys.stderr)
        return 2
    description = (
        "Train an agent online: SAC (default), TD3, DDPG or TQC (--algo) with SimbaV2, "
        "SimBa or MLP networks (--agent.actor.encoder, --agent.critic.encoder).\n\n"
        f"--preset NAME   start from a preset: {', '.join(PRESETS)} "
        f"(default {DEFAULT_PRESET}; earlier names: "
        f"{', '.join(f'{a} = {b}' for a, b in PRESET_ALIASES.items())}); "
        "any flag below overrides it.\n"
        "--config FILE   start from a JSON file of config fields (a run's config.json, "
        "simbarl tune's best_config.json; its 'preset' fills the rest).\n"
        "--resume DIR    continue a run from its checkpoint (learner, replay, "
        "statistics, RNG and counters); --steps may raise the budget.\n"
        "--init-from RUN offline-to-online: start from RUN's weights and statistics, on "
        "its task with its algorithm, networks and BC weight, with the online preset's "
        "learning rates (its own, or the one its offline preset was built from; --preset "
        "overrides). An offline RUN's dataset is kept in --init-data-ratio (default 0.5) "
        "of every batch.\n"
        "--set KEY=VALUE ...  set config fields as simbarl sweep and tune do "
        "(--set agent.critic.width=32 is --agent.critic.width 32); the flags below win.\n"
        "--no-progress   is --progress off: only the final line."
    )
    cfg = tyro.cli(
        type(base), default=base, args=rest, prog="simbarl train", description=description
    )
    if known.preset and not known.resume:  # a resumed run keeps the name it was started with
        cfg = dataclasses.replace(cfg, preset=preset_name(known.preset))  # an alias's preset
    from simbarl.train.run import train

    result, code = run_reporting_errors("simbarl train", lambda: train(cfg, resume=known.resume))
    if code is not None:
        return code
    if result.interrupted:
        if cfg.checkpoint or known.resume:
            how = f"checkpoint written. Continue with: simbarl train --resume {result.run_dir}"
        else:
            how = "no checkpoint (--no-checkpoint), so it cannot be resumed; "
            how += f"{result.run_dir} keeps its metrics"
        print(f"stopped at {result.env_step} env steps; {how}", file=sys.stderr)
        return 130
    print(
        f"done: {result.env_step} env steps, last eval return {_last_eval(result)}, run dir "
        f"{result.run_dir}"
    )
    return 0


def _last_eval(result) -> str:
    """This call's last evaluation, or the run's own when it had nothing left to do."""
    if result.eval_returns:
        return f"{result.eval_returns[-1][1]:.1f}"
    from simbarl.runs.metrics import read_metrics

    rows = [r for r in read_metrics(result.run_dir) if "eval/return" in r]
    return f"{rows[-1]['eval/return']:.1f} (at {rows[-1]['env_step']})" if rows else "n/a"


def _pick_gl_backend() -> None:
    """Headless rendering: EGL (GPU drivers) or OSMesa (software, libosmesa6)."""
    if "MUJOCO_GL" in os.environ:
        return
    if ctypes.util.find_library("EGL"):
        os.environ["MUJOCO_GL"] = "egl"
    elif ctypes.util.find_library("OSMesa"):
        os.environ["MUJOCO_GL"] = "osmesa"
        os.environ.setdefault("PYOPENGL_PLATFORM", "osmesa")
    else:
        raise RuntimeError(
            "no headless OpenGL found for --video: install OSMesa "
            "(Debian/Ubuntu: apt-get install libosmesa6) or EGL (libegl1 with a GPU driver), "
            "or set MUJOCO_GL yourself"
        )


def eval_cli(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(
        prog="simbarl eval",
        description="Evaluate a run's latest checkpoint with the deterministic policy.",
    )
    parser.add_argument("run_dir", help="run directory written by simbarl train")
    parser.add_argument("--episodes", type=int, default=10, help="episodes (default 10)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the evaluation episodes")
    parser.add_argument("--video", default=None, help="write an MP4 of the first episode here")
    parser.add_argument("--fps", type=int, default=30, help="frames per second of the video")
    parser.add_argument(
        "--max-steps",
        type=int,
        default=None,
        help="cut each episode after this many agent steps (a short video where "
        "software rendering is slow); default: the task's own limit",
    )
    args = parser.parse_args(argv)
    if args.episodes <= 0:
        parser.error("--episodes must be positive")
    if args.max_steps is not None and args.max_steps <= 0:
        parser.error("--max-steps must be positive")
    try:
        if args.video:
            _pick_gl_backend()
        from simbarl.runs.load import load_agent
        from simbarl.train.evaluate import evaluate

        agent = load_agent(args.run_dir)
    except (ValueError, RuntimeError) as e:
        print(f"simbarl eval: error: {e}", file=sys.stderr)
        return 2
    env = agent.make_env(render_mode="rgb_array" if args.video else None)
    returns, lengths, frames, successes = evaluate(
        env,
        agent.act,
        args.episodes,
        args.seed,
        round_index=10**6,
        render=bool(args.video),
        max_steps=args.max_steps,
    )[:4]
    print(
        f"{agent.config.env} @ {agent.env_step} env steps: return {returns.mean():.2f} "
        f"+- {returns.std():.2f} over {len(returns)} episodes "
        f"(min {returns.min():.2f}, max {returns.max():.2f}, mean length {lengths.mean():.0f})"
    )
    if successes is not None:
        print(f"success rate (solved at any step): {successes.mean():.2f}")
    if args.video:
        import imageio

        with warnings.catch_warnings():
            # imageio starts ffmpeg with subprocess, a fork followed at once by exec in
            # the child, which runs no Python and touches none of JAX's threads; JAX's
            # at-fork hook warns of a deadlock all the same, so that one warning is ignored.
            warnings.filterwarnings(
                "ignore", message=r"os\.fork\(\) was called", category=RuntimeWarning
            )
            imageio.mimsave(args.video, frames, fps=args.fps, macro_block_size=1)
        print(f"video: {args.video} ({len(frames)} frames)")
    return 0


def _suite_budget() -> str:
    from simbarl.envs.registry import DEVICE_STEPS, SUITES

    return f"{SUITES['dmc'].steps:,} (device tasks {DEVICE_STEPS:,})"


def _data_settings(name: str, cfg) -> str:
    """A preset's envs, batch, replay, warm-up, discount and action repeat, by suite
    where it sets them per suite (``presets.SUITE_VALUES``)."""
    from simbarl.config.presets import SUITE_VALUES
    from simbarl.envs.registry import DEVICE_ENVS

    n = cfg.num_envs
    envs = f"{n} env{'s' if n > 1 else ''}" if n else f"1 env (device tasks {DEVICE_ENVS})"
    discount = f"discount {cfg.agent.discount:g}" if cfg.agent.discount is not None else ""
    by_suite = SUITE_VALUES.get(name, {})
    if not discount and by_suite:
        parts = [f"{v['agent.discount']:g}" for k, v in by_suite.items() if k == "*"]
        parts += [f"{k} {v['agent.discount']:g}" for k, v in by_suite.items() if k != "*"]
        discount = "discount by suite: " + ", ".join(parts)
    discount = discount or "discount by suite (SimbaV2's heuristic)"
    repeat = cfg.action_repeat if cfg.action_repeat is not None else "by suite"
    return (
        f"{envs}, batch {cfg.batch_size}, buffer {cfg.buffer_size:,}, "
        f"{cfg.warmup_steps:,} random steps, {discount}, action repeat {repeat}"
        + (", critic on the privileged state" if cfg.asymmetric_observation else "")
    )


def _learner_settings(cfg) -> str:
    """The algorithm's settings a preset moves from the defaults (``AgentConfig``): target
    rate, delay, double Q, and the entropy (SAC family) or the noise (TD3/DDPG)."""
    from simbarl.config import AgentConfig

    a, d = cfg.agent, AgentConfig()
    parts = [] if cfg.algo == "sac" else [f"--algo {cfg.algo}"]
    if a.tau != d.tau:
        parts.append(f"tau {a.tau:g}")
    if a.policy_delay is not None:
        parts.append(f"policy delay {a.policy_delay}")
    if a.clipped_double_q is not None:
        parts.append(f"clipped double Q {'on' if a.clipped_double_q else 'off'}")
    if cfg.algo in ("td3", "ddpg"):
        noise = f"{a.exploration_noise:g}"
        if a.exploration_noise_max is not None:
            noise = f"per env from [{noise}, {a.exploration_noise_max:g}]"
        parts.append(f"exploration std {noise}")
        if a.policy_noise is not None:
            parts.append(f"smoothing std {a.policy_noise:g}")
    else:
        if a.temperature_init != d.temperature_init:
            parts.append(f"temperature {a.temperature_init:g}")
        scale = a.target_entropy_scale
        if scale != d.target_entropy_scale:
            parts.append(f"target entropy {f'-{scale:.3g} |A|' if scale else 0}")
        if (a.log_std_min, a.log_std_max) != (d.log_std_min, d.log_std_max):
            parts.append(f"log-std in [{a.log_std_min:g}, {a.log_std_max:g}]")
    if a.weight_decay != d.weight_decay:
        parts.append(f"weight decay {a.weight_decay:g}")
    return ", ".join(parts)


def presets_cli(argv: list[str]) -> int:
    from simbarl.config import DEFAULT_PRESET, PRESET_ALIASES, PRESETS
    from simbarl.offline.trainer import OFFLINE_PRESETS, OfflineConfig

    epochs = OfflineConfig(dataset="").epochs
    for name, cfg in {**PRESETS, **OFFLINE_PRESETS}.items():
        a = cfg.agent
        if name in OFFLINE_PRESETS:
            decay = f" (lr decay over the first {a.learning_rate_decay:.0%})"
            budget = f"budget {epochs} epochs{decay}, bc_alpha {a.bc_alpha:g} (simbarl offline)"
        else:
            steps = f"{cfg.steps:,}" if cfg.steps else _suite_budget()
            budget = f"budget {steps} env steps, eval every {cfg.eval_every:,}"
            budget += " (default)" if name == DEFAULT_PRESET else ""
        print(
            f"{name:17s} actor {a.actor.encoder}/{a.actor.width}x{a.actor.num_blocks}  "
            f"critic {a.critic.encoder}/{a.critic.width}x{a.critic.num_blocks} "
            f"{a.critic_type}  UTD {cfg.updates_per_step}  lr {a.learning_rate:g}->"
            f"{a.learning_rate_end:g}  reward scaling {a.reward_scaling}\n{'':17s} {budget}"
        )
        if name not in OFFLINE_PRESETS:
            print(f"{'':17s} {_data_settings(name, cfg)}")
            learner = _learner_settings(cfg)
            if learner:
                print(f"{'':17s} {learner}")
    for alias, name in PRESET_ALIASES.items():
        print(f"{alias:17s} an earlier name of {name}")
    print("--steps (simbarl offline: --epochs) overrides a budget; the lr decay spans it.")
    return 0


def tasks_cli(argv: list[str]) -> int:
    from simbarl.envs.benchmark_tasks import (
        BENCHMARK_TASKS,
        GROUPS,
        OTHER_VERSION_NOTE,
        suite_problem,
    )

    p = argparse.ArgumentParser(
        prog="simbarl tasks",
        description="The 57 SimbaV2 benchmark tasks, by group: the id to train, the task's "
        "name in the published tables and its score normalization. '(not available: ...)' "
        "marks suites that cannot run here: their package is missing, or it does not import "
        "and build the suite's first task.",
    )
    p.parse_args(argv)
    print(f"  {'id':30s} {'published as':24s} normalized score")
    for group in GROUPS:
        tasks = [t for t in BENCHMARK_TASKS if t.group == group]
        suite = tasks[0].suite
        problem = suite_problem(suite)
        mark = f"  (not available: {problem})" if problem else ""
        print(f"{group} ({len(tasks)} tasks){mark}")
        if group == "mujoco":
            print(
                "  published on Gymnasium -v4, the ids below; the -v5 ids (HalfCheetah-v5, ...)\n"
                "  also train and sweep, scored with the same -v4 numbers and marked\n"
                f"  '{OTHER_VERSION_NOTE}' (-v5 changes Ant/Humanoid observations, contact\n"
                "  costs and healthy rewards, Walker2d's foot friction)"
            )
        for t in tasks:
            if t.metric == "success":
                norm = "success rate"
            elif t.random == 0.0:
                norm = f"return / {t.reference:g}"
            else:
                shift = f"+ {-t.random:g}" if t.random < 0 else f"- {t.random:g}"
                norm = f"(return {shift}) / ({t.reference:g} {shift})"
            print(f"  {t.env_id:30s} {t.published:24s} {norm}")
    return 0


# Commands in other modules, imported only when run: name -> "module:function".
LAZY_COMMANDS = {
    "sweep": "simbarl.sweep.command:sweep_cli",
    "scores": "simbarl.sweep.command:scores_cli",
    "plot": "simbarl.sweep.command:plot_cli",
    "analyze": "simbarl.analysis.dynamics:analyze_cli",
    "collect": "simbarl.offline.command:collect_cli",
    "export": "simbarl.export.command:export_cli",
    "export-replay": "simbarl.offline.command:export_replay_cli",
    "offline": "simbarl.offline.command:offline_cli",
    "tune": "simbarl.tune.command:tune_cli",
    "evolve": "simbarl.evolve.command:evolve_cli",
}


def _lazy(target: str):
    module, name = target.split(":")
    return lambda argv: getattr(importlib.import_module(module), name)(argv)


COMMANDS = {
    "train": train_cli,
    "eval": eval_cli,
    "presets": presets_cli,
    "tasks": tasks_cli,
    **{name: _lazy(target) for name, target in LAZY_COMMANDS.items()},
}


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    _quiet()
    if not argv or argv[0] in ("-h", "--help"):
        print(USAGE)
        return 0
    if argv[0] not in COMMANDS:
        print(f"simbarl: unknown command {argv[0]!r}\n\n{USAGE}", file=sys.stderr)
        return 2
    with _sigterm_as_ctrl_c() as received:
        try:
            return COMMANDS[argv[0]](argv[1:])
        except KeyboardInterrupt:  # one the command did not report itself (its start-up)
            print(
                f"simbarl {argv[0]}: stopped by {received[-1] if received else 'Ctrl-C'}; "
                "files it had written are whole: run it again to go on",
                file=sys.stderr,
            )
            return 130


@contextlib.contextmanager
def _sigterm_as_ctrl_c():
    """SIGTERM, from the moment a command starts, does what Ctrl-C does (training
    commands install their own handlers, ``train/stop.py``); yields the signals received."""
    received: list[str] = []

    def on_signal(signum, frame):
        received.append("SIGTERM" if signum == signal.SIGTERM else "Ctrl-C")
        raise KeyboardInterrupt

    if threading.current_thread() is not threading.main_thread():
        yield received
        return
    old = {s: signal.signal(s, on_signal) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield received
    finally:
        for s, handler in old.items():
            signal.signal(s, handler)


if __name__ == "__main__":
    sys.exit(main())
