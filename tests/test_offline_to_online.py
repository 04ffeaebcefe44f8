"""Offline-to-online: ``simbarl train --init-from OFFLINE_RUN`` (train/warm_start.py)."""

import dataclasses

import jax
import jax.numpy as jnp
import numpy as np
from pendulum_controller import RANDOM_RETURN

from simbarl.config import ReplayConfig
from simbarl.replay import Transition, add, init_replay
from simbarl.train.step import draw_mixed


def _marked(n: int, value: float, obs_dim: int = 3):
    """A full buffer of ``n`` steps whose rewards all equal ``value``."""
    ones = np.ones(n, np.float32)
    obs = np.zeros((n, obs_dim), np.float32)
    tr = Transition(obs, np.zeros((n, 1), np.float32), value * ones, obs, 0 * ones, 0 * ones)
    return add(init_replay(n, obs_dim, 1), tr)


def test_a_fixed_fraction_of_every_batch_comes_from_the_dataset():
    online, dataset = _marked(50, 1.0), _marked(70, 2.0)
    replay = ReplayConfig()
    key = jax.random.PRNGKey(0)
    tr, horizon, idx, weight = draw_mixed(online, dataset, 0.25, key, (3, 40), replay, 0.9, 1, 1.0)
    assert tr.reward.shape == (3, 40) and idx.shape == (3, 30)
    np.testing.assert_array_equal(tr.reward[:, :30], 1.0)
    np.testing.assert_array_equal(tr.reward[:, 30:], 2.0)
    assert horizon is None and weight is None
    # without a dataset every row is online; a ratio near 1 still keeps one online row
    assert (draw_mixed(online, (), 0.5, key, (3, 40), replay, 0.9, 1, 1.0)[0].reward == 1).all()
    almost = draw_mixed(online, dataset, 0.999, key, (1, 40), replay, 0.9, 1, 1.0)[0]
    assert int((almost.reward == 1.0).sum()) == 1


def test_n_step_returns_in_the_dataset_stop_at_its_episode_ends():
    # two episodes of 3 steps laid out one after the other (stride 1)
    rewards = jnp.array([1.0, 2.0, 4.0, 10.0, 20.0, 40.0])
    ended = jnp.array([0.0, 0.0, 1.0, 0.0, 0.0, 1.0])
    z = jnp.zeros((6, 1))
    dataset = add(init_replay(6, 1, 1), Transition(z, z, rewards, z + 1, ended, 0 * ended))
    online = _marked(8, 0.0, obs_dim=1)
    replay = ReplayConfig(n_step=3)
    tr, horizon, _, _ = draw_mixed(
        online, dataset, 0.5, jax.random.PRNGKey(1), (1, 64), replay, 0.5, 4, 1.0
    )
    by_first = {1.0: 1 + 0.5 * 2 + 0.25 * 4, 2.0: 2 + 0.5 * 4, 4.0: 4.0}
    by_first.update({10 * k: 10 * v for k, v in by_first.items()})
    # the dataset half: rewards are n-step returns that never cross an episode end
    got = np.asarray(tr.reward[0, 32:])
    assert set(np.round(got, 4)) <= {round(v, 4) for v in by_first.values()}
    assert np.asarray(horizon).shape == (1, 64)


def _fine_tune_args(run_dir, out, *extra):
    return [
        "train", "--init-from", str(run_dir), "--steps", "1000", "--warmup-steps", "200",
        "--batch-size", "64", "--updates-per-step", "1", "--eval-every", "1000",
        "--eval-episodes", "5", "--log-every", "500", "--agent.learning-rate", "1e-3",
        "--agent.learning-rate-end", "1e-4", "--run-dir", str(out), "--no-progress",
        "--no-tensorboard", *extra,
    ]  # fmt: skip


def test_fine_tuning_starts_from_the_offline_policy_without_a_drop(offline_run, tmp_path):
    from simbarl.cli import main
    from simbarl.runs import run_dir as rd
    from simbarl.runs.metrics import read_metrics

    run_dir, evals, behaviour = offline_run
    assert main(_fine_tune_args(run_dir, tmp_path / "ft")) == 0
    cfg = rd.load_config(tmp_path / "ft")
    # the task, algorithm, networks and BC weight are the offline run's
    assert cfg.env == "Pendulum-v1" and cfg.preset == "simbav2-small"
    assert cfg.agent.critic.width == 64 and cfg.agent.bc_alpha == 0.1  # BC kept
    assert cfg.init_data_ratio == 0.5 and cfg.init_from == str(run_dir.resolve())
    returns = [(r["env_step"], r["eval/return"]) for r in read_metrics(tmp_path / "ft")
               if "eval/return" in r]  # fmt: skip
    assert [s for s, _ in returns] == [0, 1000]
    offline = evals[-1][1]
    # env step 0 is the loaded policy: as good as the offline run's last evaluation
    assert abs(returns[0][1] - offline) < 150, (returns, offline)
    # after 800 online updates, no collapse (from scratch it would be near -1200)
    floor = offline - 0.3 * (offline - RANDOM_RETURN)
    assert returns[1][1] > floor, (returns, offline)


def test_init_from_errors_are_clear(offline_run, tmp_path, capsys):
    from simbarl.cli import main

    run_dir, _, _ = offline_run
    args = _fine_tune_args(run_dir, tmp_path / "bad", "--agent.critic.width", "128")
    assert main(args) == 2
    assert "differ from this run's" in capsys.readouterr().err
    assert not (tmp_path / "bad").exists()  # nothing created before the check
    assert main(["train", "--init-from", str(tmp_path / "nothing")]) == 2
    assert "not a simbarl run directory" in capsys.readouterr().err
    assert main(["train", "--init-data-ratio", "0.5", "--no-progress"]) == 2
    assert "needs --init-from" in capsys.readouterr().err


def test_warm_start_takes_weights_and_statistics_not_optimizers(offline_run):
    from simbarl.config import preset
    from simbarl.runs.learner import build_agent
    from simbarl.runs.load import load_agent
    from simbarl.runs.run_dir import resolve
    from simbarl.train.warm_start import init_config, start

    run_dir, _, _ = offline_run
    source = load_agent(run_dir)
    cfg, task = resolve(init_config(run_dir, preset("simbav2-small")))
    cfg = dataclasses.replace(cfg, num_envs=3)
    agent = build_agent(cfg, task.obs_dim, task.action_dim)
    learner, loop = start(agent, cfg, seed=5, warm=True)
    same = lambda a, b: jax.tree.map(np.testing.assert_array_equal, a, b)
    same(learner.actor, source.learner.actor)
    same(learner.target_critic, source.learner.target_critic)
    same(learner.log_temp, source.learner.log_temp)
    assert int(learner.step) == 0  # a fresh schedule and fresh optimizers
    fresh, _ = start(agent, cfg, seed=5, warm=False)
    same(learner.critic_opt, fresh.critic_opt)
    np.testing.assert_array_equal(loop.obs_stats.mean, source.obs_stats.mean)
    assert loop.obs_stats.count == source.obs_stats.count
    assert loop.reward_scaler.returns.shape == (3,) and not loop.reward_scaler.returns.any()
