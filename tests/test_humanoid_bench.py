"""HumanoidBench's 14 H1 tasks through simbarl's adapter (envs/humanoid_bench.py).

The first tests need no HumanoidBench (they run in CI): the version check and
its message, and what `simbarl tasks` reports, on a fake package. The rest run
where HumanoidBench is installed (``pip install --no-deps -e humanoid-bench``,
see docs/guides/humanoid_bench.md) and are skipped elsewhere.
"""

import ctypes.util
import importlib.util
import os
import subprocess
import sys

import numpy as np
import pytest

from simbarl.cli import main
from simbarl.config import TrainConfig
from simbarl.envs import benchmark_tasks as bt
from simbarl.envs import humanoid_bench as hb
from simbarl.envs.registry import make_env, resolve_task
from simbarl.runs import run_dir as rd
from simbarl.runs.metrics import read_metrics

INSTALLED = importlib.util.find_spec("humanoid_bench") is not None
needs_hb = pytest.mark.skipif(not INSTALLED, reason="HumanoidBench is not installed")
H1_IDS = [t.env_id for t in bt.tasks_of("humanoid_bench")]


@pytest.fixture
def fake_hb(tmp_path, monkeypatch):
    """A package named humanoid_bench that is not upstream's, shadowing any real one."""
    ours = lambda: [m for m in sys.modules if m.split(".")[0] == "humanoid_bench"]
    for name in ours():
        monkeypatch.delitem(sys.modules, name)  # the real ones come back after the test
    pkg = tmp_path / "humanoid_bench"
    (pkg / "envs").mkdir(parents=True)
    (pkg / "__init__.py").write_text("")
    (pkg / "env.py").write_text("class HumanoidEnv: pass\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    bt.suite_problem.cache_clear()
    yield pkg
    for name in ours():  # what the test imported from the fake
        del sys.modules[name]
    bt.suite_problem.cache_clear()


def test_check_files_names_what_differs(fake_hb):
    problems = hb.check_files(fake_hb)
    assert "env.py differs" in problems and "tasks.py is missing" in problems
    assert "__init__.py differs" in problems
    assert any("scene files" in p and "missing" in p for p in problems)


def test_a_different_humanoid_bench_stops_with_what_to_do(fake_hb, monkeypatch, capsys):
    monkeypatch.delenv(hb.ANY_VERSION_ENV, raising=False)
    with pytest.raises(hb.HumanoidBenchMismatch) as e:
        hb.import_humanoid_bench()
    message = str(e.value)
    assert str(fake_hb) in message and "env.py differs" in message
    assert "git -C humanoid-bench checkout 791405f" in message and "--no-deps" in message
    assert "humanoid_bench" not in sys.modules  # stopped before running its code
    # The same message where users meet it: the CLI, before any run directory exists.
    run = fake_hb.parent / "run"
    assert main(["train", "--env", "h1-walk-v0", "--run-dir", str(run)]) == 2
    assert "checkout 791405f" in capsys.readouterr().err and not run.exists()


def test_unchecked_version_still_fails_precisely(fake_hb, monkeypatch):
    monkeypatch.setenv(hb.ANY_VERSION_ENV, "1")
    with pytest.raises(hb.HumanoidBenchMismatch, match="importing it failed|has no attribute"):
        hb.import_humanoid_bench()


def test_tasks_reports_a_suite_that_does_not_build(fake_hb, monkeypatch, capsys):
    monkeypatch.delenv(hb.ANY_VERSION_ENV, raising=False)
    problem = bt.suite_problem("humanoid_bench")
    assert problem.startswith("humanoid_bench is installed but h1-walk-v0 does not build")
    assert "791405f" in problem and not bt.suite_installed("humanoid_bench")
    assert main(["tasks"]) == 0
    out = capsys.readouterr().out
    assert "humanoid_bench (14 tasks)  (not available: humanoid_bench is installed" in out
    assert "mujoco (5 tasks)\n" in out  # a suite that builds carries no mark


def test_a_missing_package_is_not_available(monkeypatch):
    bt.suite_problem.cache_clear()
    monkeypatch.setitem(sys.modules, "myosuite", None)  # not found, as if not installed
    try:
        assert bt.suite_problem("myosuite") == "myosuite is not installed"
    finally:
        bt.suite_problem.cache_clear()


def test_the_torch_stand_in_says_what_needs_torch():
    stand_in = hb._torch_stand_in()
    with pytest.raises(ImportError, match="needs torch.*H1 tasks never use it"):
        stand_in.TorchModel(55, 19)


# ---- with HumanoidBench installed ----------------------------------------------------

OBS_DIMS = {"reach": 57, "sit_hard": 64, "balance_simple": 64, "balance_hard": 77}


@needs_hb
@pytest.mark.parametrize("env_id", H1_IDS)
def test_h1_task_builds_resets_reproducibly_and_steps(env_id):
    name = env_id[len("h1-") : -len("-v0")]
    task = resolve_task(env_id)
    assert (task.suite, task.obs_dim, task.action_dim) == (
        "humanoid_bench",
        OBS_DIMS.get(name, 51),
        19,
    )
    assert task.max_episode_steps == 1000  # raw steps
    cfg, _ = rd.resolve(TrainConfig(env=env_id))
    assert cfg.action_repeat == 2 and cfg.agent.clipped_double_q
    assert cfg.agent.discount == pytest.approx(0.99)  # 1000 / 2 agent steps
    from humanoid_bench.env import TASKS  # imported (adapted) by resolve_task

    assert bt.benchmark_task(env_id).reference == TASKS[name].success_bar
    env = make_env(env_id, cfg.action_repeat)
    try:
        assert env.unwrapped.render_mode is None  # no OpenGL context unless asked
        state = np.random.get_state()
        first, _ = env.reset(seed=7)
        again, _ = env.reset(seed=7)
        other, _ = env.reset(seed=8)
        np.testing.assert_array_equal(first, again)
        assert not np.array_equal(first, other)
        assert all(np.array_equal(a, b) for a, b in zip(state, np.random.get_state(), strict=True))
        assert first.shape == (task.obs_dim,)
        for _ in range(3):
            obs, reward, terminated, truncated, _ = env.step(np.zeros(task.action_dim))
        assert obs.shape == (task.obs_dim,) and np.isfinite(reward)
        assert not truncated
    finally:
        env.close()


@needs_hb
def test_episode_limit_is_1000_raw_steps():
    env = make_env("h1-stand-v0", 2)
    env.unwrapped.task.get_terminated = lambda: (False, {})  # stand forever
    env.reset(seed=0)
    steps, truncated = 0, False
    while not truncated:
        _, _, terminated, truncated, _ = env.step(np.zeros(19))
        steps += 1
        assert not terminated
    assert steps == 500  # 1000 raw steps at action repeat 2
    env.close()


@needs_hb
@pytest.mark.skipif(
    not (ctypes.util.find_library("OSMesa") or ctypes.util.find_library("EGL")),
    reason="no headless OpenGL (apt-get install libosmesa6)",
)
def test_train_h1_walk_then_video(tmp_path):
    run = str(tmp_path / "run")
    tiny = ["--agent.actor.width", "16", "--agent.critic.width", "32"]
    tiny += ["--agent.critic.num-blocks", "1", "--batch-size", "32", "--eval-episodes", "1"]
    loop = ["--steps", "600", "--warmup-steps", "100", "--eval-every", "600"]
    loop += ["--log-every", "600", "--no-progress", "--no-tensorboard"]
    assert main(["train", "--env", "h1-walk-v0", *tiny, *loop, "--run-dir", run]) == 0
    rows = read_metrics(run)
    train = [r for r in rows if "train/critic/loss" in r][-1]
    assert train["env_step"] == 600 and train["perf/updates"] >= 150  # 300 agent steps
    assert [r["env_step"] for r in rows if "eval/return" in r] == [600]
    # A fresh process: the GL backend is chosen before mujoco's renderer is loaded.
    video = tmp_path / "episode.mp4"
    cmd = [sys.executable, "-m", "simbarl.cli", "eval", run, "--episodes", "1"]
    cmd += ["--video", str(video), "--max-steps", "3"]
    env = {k: v for k, v in os.environ.items() if k != "MUJOCO_GL"}
    out = subprocess.run(cmd, check=True, env=env, capture_output=True, text=True).stdout
    assert "(3 frames)" in out and "mean length 3" in out
    assert video.stat().st_size > 1000


RENDER_REACH = """
import numpy as np
from simbarl.envs.registry import make_env
env = make_env("h1-reach-v0", 2, render_mode="rgb_array")
env.reset(seed=0)
frame = env.render()
r, g, b = (frame[..., i].astype(int) for i in range(3))
print(frame.shape, int(np.sum((r > 150) & (g < 100) & (b < 100))))
"""


@needs_hb
@pytest.mark.skipif(not ctypes.util.find_library("EGL"), reason="no EGL")
def test_reach_renders_its_goal_marker():
    # HumanoidBench draws the goal as a red sphere marker (a scalar size, a tuple colour).
    env = {**os.environ, "MUJOCO_GL": "egl"}
    cmd = [sys.executable, "-c", RENDER_REACH]
    out = subprocess.run(cmd, check=True, env=env, capture_output=True, text=True).stdout
    shape, red = out.strip().rsplit(" ", 1)
    assert shape == "(256, 256, 3)" and int(red) > 5
