"""Environments from the user's own module (``MODULE:ID``, ``jax:MODULE:NAME``): trained
and evaluated from the command line in fresh processes, and the errors when the
module cannot be imported or does not register the id."""

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from simbarl.envs import device_tasks, toy
from simbarl.envs.registry import check_task_id, resolve_task

REPO = Path(__file__).resolve().parents[1]

GYM_MODULE = '''
import gymnasium as gym
import numpy as np


class PointMass1D(gym.Env):
    """A point on a line pushed by the action; reward -|x|."""

    def __init__(self, render_mode=None):
        self.observation_space = gym.spaces.Box(-10.0, 10.0, (2,), np.float32)
        self.action_space = gym.spaces.Box(-2.0, 2.0, (1,), np.float32)

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        self.x, self.v = float(self.np_random.uniform(-1, 1)), 0.0
        return np.array([self.x, self.v], np.float32), {}

    def step(self, action):
        self.v = 0.9 * self.v + 0.1 * float(np.clip(action[0], -2, 2))
        self.x = float(np.clip(self.x + 0.1 * self.v, -10, 10))
        return np.array([self.x, self.v], np.float32), -abs(self.x), False, False, {}


gym.register(id="PointMass1D-v0", entry_point=PointMass1D, max_episode_steps=50)
'''

JAX_MODULE = """
from simbarl.envs import register_jax_task
from simbarl.envs.toy import PointMass


class FarPointMass(PointMass):
    episode_length = 40


register_jax_task("FarPointMass", FarPointMass)
"""

TINY_FLAGS = [
    *("--steps", "300", "--warmup-steps", "100", "--eval-every", "150"),
    *("--eval-episodes", "1", "--log-every", "100", "--batch-size", "16"),
    *("--agent.actor.width", "16", "--agent.critic.width", "16"),
    *("--agent.actor.num-blocks", "1", "--agent.critic.num-blocks", "1"),
    *("--no-tensorboard", "--analyze-every", "0"),
]


def simbarl(args, cwd, modules):
    """``python -m simbarl.cli ARGS`` with ``modules`` on PYTHONPATH, output to pipes."""
    path = os.pathsep.join([str(REPO), str(modules), os.environ.get("PYTHONPATH", "")])
    env = {**os.environ, "PYTHONPATH": path}
    return subprocess.run(
        [sys.executable, "-m", "simbarl.cli", *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )


def test_train_and_eval_an_env_of_your_own_module(tmp_path):
    modules = tmp_path / "mods"
    modules.mkdir()
    (modules / "my_point_env.py").write_text(GYM_MODULE)
    env_id = "my_point_env:PointMass1D-v0"
    run = tmp_path / "run"
    train = simbarl(
        ["train", "--env", env_id, *TINY_FLAGS, "--run-dir", str(run)], tmp_path, modules
    )
    assert train.returncode == 0, train.stderr[-2000:]
    assert "done: 300 env steps" in train.stdout
    saved = json.loads((run / "config.json").read_text())
    assert saved["env"] == env_id  # eval and resume import the module again
    assert saved["action_repeat"] == 1  # a Gymnasium task of the "gym" suite
    shown = simbarl(["eval", str(run), "--episodes", "2"], tmp_path, modules)
    assert shown.returncode == 0, shown.stderr[-2000:]
    assert shown.stdout.startswith(f"{env_id} @ 300 env steps: return ")
    assert "mean length 50" in shown.stdout  # the module's own time limit

    # Without the module on the path, eval says what is missing.
    lost = subprocess.run(
        [sys.executable, "-m", "simbarl.cli", "eval", str(run)],
        cwd=REPO,
        env={**os.environ, "PYTHONPATH": str(REPO)},
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert lost.returncode == 2
    assert "no module named 'my_point_env'" in lost.stderr and "Traceback" not in lost.stderr


@pytest.fixture
def module_dir(tmp_path, monkeypatch):
    """A folder on ``sys.path`` for a test's modules; the JAX task table restored after."""
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setattr(toy, "TOY_TASKS", dict(toy.TOY_TASKS))
    device_tasks._load.cache_clear()
    yield tmp_path
    device_tasks._load.cache_clear()


def test_a_module_that_cannot_be_imported_or_registers_nothing_is_named(module_dir):
    with pytest.raises(ValueError, match="no module named 'no_such_env_module' can be imported"):
        check_task_id("no_such_env_module:Thing-v0")
    (module_dir / "registers_nothing.py").write_text("X = 1\n")
    with pytest.raises(ValueError, match=r"Gymnasium has no 'Thing-v0'.*gymnasium.register"):
        check_task_id("registers_nothing:Thing-v0")
    (module_dir / "broken_env_module.py").write_text("raise RuntimeError('no licence')\n")
    with pytest.raises(ValueError, match="RuntimeError: no licence"):
        check_task_id("broken_env_module:Thing-v0")
    with pytest.raises(ValueError, match="registered no pure-JAX task 'Thing'"):
        device_tasks.load_device_task("jax:registers_nothing:Thing")
    # simbarl's suites keep their prefixes: dmc: is never a module
    with pytest.raises(ValueError, match="unknown environment id"):
        check_task_id("dmc:cartpole-nosuchtask")


def test_a_pure_jax_task_of_your_own_module_for_the_device_loop(module_dir):
    (module_dir / "my_jax_tasks.py").write_text(textwrap.dedent(JAX_MODULE))
    spec = resolve_task("jax:my_jax_tasks:FarPointMass")
    assert spec.env_id == "jax:my_jax_tasks:FarPointMass" and spec.suite == "jax"
    assert (spec.obs_dim, spec.action_dim, spec.max_episode_steps) == (2, 2, 40)
    assert resolve_task("jax:FarPointMass").max_episode_steps == 40  # registered by name too
