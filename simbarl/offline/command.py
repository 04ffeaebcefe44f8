"""``simbarl collect`` and ``simbarl export-replay``: Minari datasets from a run."""

from __future__ import annotations

import argparse
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

        from simbarl.agent import load_agent
        from simbarl.offline.datasets import save_dataset
        from simbarl.offline.record import env_spec, record_episodes

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
        from simbarl.offline.datasets import save_dataset
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
