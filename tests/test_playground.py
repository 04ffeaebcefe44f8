"""MuJoCo Playground tasks (``mjx:``) in the device loop; skipped without the package.

Run locally with ``pip install -e ".[playground]"``; CI does not install it.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from simbarl.envs.device_tasks import load_device_task, resolve_impl
from simbarl.envs.registry import resolve_task
from simbarl.envs.vector_jax import VecEnv

pytest.importorskip("mujoco_playground")


def test_cartpole_balance_resolves_with_the_jax_backend_on_cpu():
    spec = resolve_task("mjx:CartpoleBalance")
    assert (spec.suite, spec.obs_dim, spec.action_dim) == ("playground_dmc", 5, 1)
    # a DM Control Suite port keeps DMC's control step, so DMC's action repeat
    assert spec.max_episode_steps == 1000 and spec.preset.action_repeat == 2
    if jax.default_backend() == "cpu":
        assert resolve_impl("auto") == "jax"
    with pytest.raises(ValueError, match="CartpoleBalance"):
        resolve_task("mjx:CartpoleBalanse")


def test_time_limit_and_final_observation_on_a_real_task():
    task = load_device_task("mjx:CartpoleBalance")
    venv = VecEnv(task.env, 2, episode_length=3, obs_fn=task.obs_fn)
    state, obs = venv.reset(jax.random.PRNGKey(0))
    step = jax.jit(venv.step)
    for _ in range(2):
        out = step(state, jnp.ones((2, 1)))
        state = out.state
        assert not out.truncated.any()
    last = out.obs
    out = step(state, jnp.ones((2, 1)))
    np.testing.assert_array_equal(out.truncated, [1, 1])
    assert not np.allclose(out.final_obs, out.obs)  # reset observations differ from final
    assert np.abs(np.asarray(out.final_obs) - np.asarray(last)).max() < 0.5  # one step on


LEARNING_RUN = """
import json, sys
sys.path.insert(0, "tests")
from tiny_config import LEARNING_AGENT, tiny
from simbarl.runs.metrics import read_metrics
from simbarl.train.run import train
from pathlib import Path

cfg = tiny(Path(sys.argv[1]), env="mjx:CartpoleBalance", steps=40_000, num_envs=16,
           action_repeat=2, warmup_steps=320, batch_size=128, updates_per_step=8,
           eval_every=40_000, eval_episodes=16, log_every=5_000, agent=LEARNING_AGENT)
result = train(cfg)
rows = read_metrics(result.run_dir)
random_play = [r["train/episode_return"] for r in rows if "train/episode_return" in r][0]
print(json.dumps([random_play, result.eval_returns[-1][1]]))
"""


def test_tiny_agent_improves_on_cartpole_balance_in_the_device_loop(tmp_path):
    """Random play scores about 300 of 1000 (the pole falls and the cart drifts).
    16 envs, action repeat 2 and 8 updates per iteration give 10k updates in 40k env
    steps; the tiny agent reached 712 with this seed (about 3 minutes on 2 busy cores,
    most of it compiling MJX). A learning check, so it runs as users run: in a process
    with XLA's default optimization (the tests' unoptimized compiles round differently,
    and one seed of 10k updates is not robust to that: it ends at 342 there)."""
    env = {k: v for k, v in os.environ.items() if k != "XLA_FLAGS"}
    out = subprocess.run(
        [sys.executable, "-c", LEARNING_RUN, str(tmp_path)],
        env=env, capture_output=True, text=True, timeout=1200,
    )  # fmt: skip
    assert out.returncode == 0, out.stderr[-3000:]
    random_play, final = json.loads(out.stdout.strip().splitlines()[-1])
    assert 200 < random_play < 450, random_play
    assert final > random_play + 250, (random_play, final)


def test_a_locomotion_task_without_menagerie_fails_naming_the_directory(tmp_path, monkeypatch):
    """Playground would clone Menagerie from GitHub here; simbarl stops first."""
    from mujoco_playground._src import mjx_env

    missing = tmp_path / "external_deps" / "mujoco_menagerie"
    monkeypatch.setattr(mjx_env, "MENAGERIE_PATH", missing)
    with pytest.raises(ValueError, match="MuJoCo Menagerie") as e:
        resolve_task("mjx:Go1JoystickFlatTerrain")
    assert str(missing) in str(e.value) and "ln -s" in str(e.value)
    assert mjx_env.MENAGERIE_COMMIT_SHA in str(e.value)
    assert not missing.exists()  # nothing was downloaded or created
    missing.mkdir(parents=True)  # left empty, as by an interrupted clone
    with pytest.raises(ValueError, match="is empty"):
        resolve_task("mjx:Go1JoystickFlatTerrain")


def test_the_menagerie_check_passes_a_menagerie_copy_and_skips_dmc_ports(tmp_path, monkeypatch):
    from mujoco_playground._src import mjx_env

    from simbarl.envs.menagerie import check_menagerie

    copy = tmp_path / "mujoco_menagerie"
    (copy / "unitree_go1").mkdir(parents=True)
    monkeypatch.setattr(mjx_env, "MENAGERIE_PATH", copy)
    check_menagerie("mjx:Go1JoystickFlatTerrain")  # no error: the assets are there
    monkeypatch.setattr(mjx_env, "MENAGERIE_PATH", tmp_path / "absent")
    check_menagerie("mjx:CartpoleBalance")  # DM Control ports ship their own models


def test_a_population_evolves_on_an_mjx_task_in_the_device_loop(tmp_path):
    """``simbarl evolve`` on a Playground task: two tiny members, one generation in the
    device loop, the host population's files."""
    import json

    from simbarl.cli import main
    from simbarl.runs.checkpoint import read_meta

    run = tmp_path / "run"
    argv = [
        "evolve",
        *("--population", "2", "--generations", "1", "--evo-steps", "40"),
        *("--fitness-episodes", "1", "--mutation-probs", "hp=1", "--vmap", "on"),
        *("--env", "mjx:CartpoleBalance", "--num-envs", "2", "--action-repeat", "2"),
        *("--warmup-steps", "16", "--batch-size", "64", "--seed", "0"),
        *("--agent.actor.width", "16", "--agent.critic.width", "16"),
        *("--agent.actor.num-blocks", "1", "--agent.critic.num-blocks", "1"),
        *("--no-progress", "--no-tensorboard", "--run-dir", str(run)),
    ]
    assert main(argv) == 0
    rows = [json.loads(line) for line in (run / "population.jsonl").read_text().splitlines()]
    assert len(rows) == 2 and all(r["fitness"] is not None and r["losses"] for r in rows)
    assert read_meta(run / "checkpoint.npz")["replay_size"] == 2 * 40 // 2
    assert (run / "best" / "checkpoint.npz").is_file()
