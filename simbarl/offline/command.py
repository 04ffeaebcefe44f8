"""``simbarl collect`` and ``simbarl export-replay``: Minari datasets from a run."""

from __future__ import annotations

import argparse
import json
import sys

import numpy as np


def _report(prog: str, dataset, episodes) -> None:
    returns = np.array([ep.rewards.sum() for ep in episodes])
    steps = sum(len(ep) for ep in episodes)
    print(
        f"{prog}: wrote {dataset.spec.dataset_id}: {len(episodes)} episodes, {steps} steps, "
        f"return {returns.mean():.1f} +- {returns.std():.1f}\n  at {dataset.storage.data_path}"
    )


def collect_cli(argv: list[str]) -> int:
    p = argparse.ArgumentParser(
        prog="simbarl collect",
        description="Record episodes of a trained run's policy as a Minari dataset: "
        "deterministic (expert-like), with Gaussian action noise (--noise), or "
        "epsilon-random (--epsilon), for medium- or replay-style data.",
    )
    p.add_argument("--run-dir", required=True, help="run directory with a checkpoint")
    p.add_argument("--episodes", type=int, required=True, help="episodes to record")
    p.add_argument("--name", required=True, help="dataset name (simbarl/NAME-v0 unless given)")
    p.add_argument("--noise", type=float, default=0.0, help="std of N(0, s) added to actions")
    p.add_argument("--epsilon", type=float, default=0.0, help="probability of a random action")
    p.add_argument("--seed", type=int, default=0, help="seed of the resets and the noise")
    args = p.parse_args(argv)
    if args.episodes <= 0:
        p.error("--episodes must be positive")
    try:
        from tqdm import tqdm

        from simbarl.datasets import check_name_free, save_dataset
        from simbarl.offline.record import env_spec, record_episodes
        from simbarl.runs.load import load_agent

        check_name_free(args.name)
        agent = load_agent(args.run_dir)
        bar = tqdm(total=args.episodes, unit="episode", file=sys.stderr)
        episodes = record_episodes(
            agent,
            args.episodes,
            args.seed,
            args.noise,
            args.epsilon,
            progress=lambda i, ret: (bar.update(1), bar.set_postfix(ret=f"{ret:.1f}")),
        )
        bar.close()
        how = f"policy of {args.run_dir} at {agent.env_step} env steps, noise {args.noise}, "
        how += f"epsilon {args.epsilon}"
        dataset = save_dataset(args.name, episodes, env_spec(agent.config), "simbarl", how)
    except (ValueError, RuntimeError) as e:
        print(f"simbarl collect: error: {e}", file=sys.stderr)
        return 2
    _report("simbarl collect", dataset, episodes)
    return 0


def export_replay_cli(argv: list[str]) -> int:
    p = argparse.ArgumentParser(
        prog="simbarl export-replay",
        description="Turn a run's checkpointed replay buffer into a Minari dataset "
        "(every transition it holds, as per-env episodes in the order gathered).",
    )
    p.add_argument("run_dir", help="run directory with a checkpoint")
    p.add_argument("--name", required=True, help="dataset name (simbarl/NAME-v0 unless given)")
    args = p.parse_args(argv)
    try:
        from simbarl.datasets import save_dataset
        from simbarl.offline.record import replay_episodes

        episodes, spec = replay_episodes(args.run_dir)
        dataset = save_dataset(
            args.name, episodes, spec, "simbarl", f"replay buffer of {args.run_dir}"
        )
    except (ValueError, RuntimeError) as e:
        print(f"simbarl export-replay: error: {e}", file=sys.stderr)
        return 2
    _report("simbarl export-replay", dataset, episodes)
    return 0


def offline_cli(argv: list[str]) -> int:
    from simbarl.offline.trainer import ALGOS, OFFLINE_PRESETS, OfflineConfig

    d = OfflineConfig(dataset="")
    p = argparse.ArgumentParser(
        prog="simbarl offline",
        description="Train offline on a Minari dataset: SimbaV2-SAC with the behaviour-cloning "
        "actor term (or TD3+BC with --algo td3, FlashSAC with the same term with --algo "
        "flashsac --preset flashsac-bc), normalizers fitted from the dataset, the "
        "learning rate decaying 1e-4 -> 1e-5 over the first half of the updates, and "
        "evaluation on the dataset's env (D4RL normalized score for halfcheetah, hopper, "
        "walker2d). Writes the online run-directory layout; metrics' env_step counts updates.",
    )
    p.add_argument("--dataset", required=True, help="Minari dataset id or local folder")
    p.add_argument("--preset", default=d.preset, choices=list(OFFLINE_PRESETS))
    p.add_argument("--algo", default=d.algo, choices=ALGOS)
    p.add_argument("--run-dir", default=None, help="run directory (default runs/<env>/...)")
    p.add_argument("--seed", type=int, default=d.seed)
    p.add_argument("--epochs", type=int, default=d.epochs, help=f"default {d.epochs}")
    p.add_argument(
        "--steps",
        type=int,
        default=None,
        help="cap on the number of updates; the learning-rate decay spans the updates "
        "that run (a short cap decays it early)",
    )
    p.add_argument("--batch-size", type=int, default=d.batch_size)
    p.add_argument("--eval-every", type=int, default=d.eval_every, help="in updates")
    p.add_argument("--eval-episodes", type=int, default=d.eval_episodes)
    p.add_argument("--log-every", type=int, default=d.log_every, help="in updates")
    p.add_argument("--download", action="store_true", help="let Minari download the dataset")
    p.add_argument("--env", default=None, help="task to evaluate on, for non-simbarl datasets")
    p.add_argument("--action-repeat", type=int, default=None)
    p.add_argument(
        "--set",
        nargs="+",
        default=[],
        metavar="KEY=VALUE",
        help="config fields, e.g. agent.bc_alpha=0.2 agent.critic.width=256",
    )
    p.add_argument("--no-tensorboard", action="store_true")
    p.add_argument("--no-progress", action="store_true")
    args = p.parse_args(argv)
    for name in ("epochs", "batch_size", "eval_every", "eval_episodes", "log_every"):
        if getattr(args, name) <= 0:
            p.error(f"--{name.replace('_', '-')} must be positive")
    if args.steps is not None and args.steps <= 0:
        p.error("--steps must be positive")
    cfg = OfflineConfig(
        dataset=args.dataset,
        preset=args.preset,
        algo=args.algo,
        run_dir=args.run_dir,
        seed=args.seed,
        epochs=args.epochs,
        steps=args.steps,
        batch_size=args.batch_size,
        eval_every=args.eval_every,
        eval_episodes=args.eval_episodes,
        log_every=args.log_every,
        download=args.download,
        env=args.env,
        action_repeat=args.action_repeat,
        overrides=tuple(args.set),
        tensorboard=not args.no_tensorboard,
        progress=not args.no_progress,
    )
    try:
        from simbarl.offline.trainer import train_offline

        run_dir, evals = train_offline(cfg)
    except (ValueError, RuntimeError) as e:
        print(f"simbarl offline: error: {e}", file=sys.stderr)
        return 2
    except FloatingPointError as e:  # the NaN guard (runs/finite.py)
        print(f"simbarl offline: error: {e}", file=sys.stderr)
        return 1
    except OSError as e:  # a full disk or a lost mount: RunWriteError names the run
        print(
            f"simbarl offline: error: {e}. Files already written are whole; offline runs "
            "do not resume: free disk space, then run the command again with another "
            "--run-dir",
            file=sys.stderr,
        )
        return 1
    last = f"{evals[-1][1]:.1f}" if evals else "n/a"
    done = evals[-1][0] if evals else 0
    planned = json.loads((run_dir / "offline.json").read_text())["updates"]
    if done < planned:  # Ctrl-C or SIGTERM: evaluated and checkpointed, then stopped
        print(
            f"interrupted at {done} of {planned} updates; checkpoint written in {run_dir} "
            f"(last eval return {last}). Offline runs do not resume: run the command again "
            "with another --run-dir to train from the start",
            file=sys.stderr,
        )
        return 130
    print(f"done: {done} updates, last eval return {last}, run dir {run_dir}")
    return 0
