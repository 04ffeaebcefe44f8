"""The 57-task registry: membership, score normalization, selections, published names."""

import warnings
from collections import Counter

import gymnasium as gym
import numpy as np
import pytest

from simbarl.cli import main
from simbarl.envs import mujoco_v4
from simbarl.envs.benchmark_tasks import (
    BENCHMARK_TASKS,
    BY_ID,
    SUITE_PACKAGES,
    benchmark_task,
    lookup,
    suite_installed,
    tasks_of,
)
from simbarl.envs.registry import make_env, resolve_task
from simbarl.reference import _rows, published_task_name

MUJOCO = ("HalfCheetah", "Hopper", "Walker2d", "Ant", "Humanoid")


def test_57_tasks_in_five_groups():
    assert len(BENCHMARK_TASKS) == 57
    assert len({t.env_id for t in BENCHMARK_TASKS}) == 57
    groups = Counter(t.group for t in BENCHMARK_TASKS)
    assert groups == {
        "mujoco": 5,
        "dmc-em": 21,
        "dmc-hard": 7,
        "myosuite": 10,
        "humanoid_bench": 14,
    }


@pytest.mark.parametrize(
    "env_id, value, score",
    [
        ("HalfCheetah-v4", 10574.0, 1.0),  # TD3's score
        ("HalfCheetah-v4", -289.415, 0.0),  # random
        ("Hopper-v4", (18.791 + 3226.0) / 2, 0.5),
        ("Hopper-v5", (18.791 + 3226.0) / 2, 0.5),  # -v5: the -v4 numbers
        ("dmc:cartpole-swingup", 861.0, 0.861),
        ("dmc:dog-run", 0.0, 0.0),
        ("myoHandPenTwirlRandom-v0", 0.7, 0.7),  # a success rate passes through
        ("h1-walk-v0", 700.0, 1.0),
        ("h1-reach-v0", 260.302 + 0.25 * (12000 - 260.302), 0.25),
        ("h1-maze-v0", 106.441, 0.0),
    ],
)
def test_normalized_scores(env_id, value, score):
    assert benchmark_task(env_id).normalize(value) == pytest.approx(score, abs=1e-9)


def test_selections_and_unknown_ids():
    assert len(tasks_of("dmc")) == 28 and len(tasks_of("dmc-hard")) == 7
    assert len(tasks_of("all")) == 57
    picked = tasks_of("Hopper-v5, dmc:walker-walk")
    assert [t.env_id for t in picked] == ["Hopper-v5", "dmc:walker-walk"]
    with pytest.raises(ValueError, match="57 benchmark tasks"):
        tasks_of("dmc:walker-jump")
    with pytest.raises(ValueError, match="57 benchmark tasks"):
        tasks_of("Hopper-v3")  # only -v4 (published) and -v5 are scored


def test_mujoco_group_is_the_published_v4_and_v5_is_flagged():
    assert [t.env_id for t in tasks_of("mujoco")] == [f"{n}-v4" for n in MUJOCO]
    assert all(t.published == t.env_id and not t.note for t in tasks_of("mujoco"))
    v5 = lookup("Walker2d-v5")
    assert v5.env_id == "Walker2d-v5" and v5.published == "Walker2d-v4"
    assert v5.note == "published score is for -v4" and v5.group == "mujoco"
    assert (v5.random, v5.reference) == (BY_ID["Walker2d-v4"].random, 3946.0)
    assert lookup("Pendulum-v1") is None and lookup("InvertedPendulum-v5") is None
    assert published_task_name("Ant-v5") == published_task_name("Ant-v4") == "Ant-v4"


def test_published_names_match_the_published_table():
    names = {r["task"] for r in _rows()}  # the packaged copy of the published curves
    ours = {published_task_name(t.env_id) for t in BENCHMARK_TASKS}
    assert names <= ours, names - ours  # every published curve has its task here
    assert published_task_name("myoHandReachFixed-v0") == "myo-reach"


def test_tasks_command(capsys):
    assert main(["tasks"]) == 0
    out = capsys.readouterr().out
    assert "dmc-hard (7 tasks)" in out and "h1-sit_hard-v0" in out
    assert "(return + 289.415) / (10574 + 289.415)" in out
    assert "  HalfCheetah-v4 " in out and "  HalfCheetah-v5 " not in out
    assert "published on Gymnasium -v4" in out and "'published score is for -v4'" in out


@pytest.mark.parametrize("env_id", ["Hopper-v4", "Hopper-v5"])
def test_v4_and_v5_build_and_step_without_out_of_date_warnings(env_id):
    spec = resolve_task(env_id)
    assert (spec.suite, spec.obs_dim, spec.action_dim, spec.max_episode_steps) == (
        "mujoco",
        11,
        3,
        1000,
    )
    with warnings.catch_warnings():
        warnings.filterwarnings("error", message=".*out of date.*")
        env = make_env(env_id, spec.preset.action_repeat)
    try:
        env.reset(seed=0)
        for _ in range(5):
            obs, reward, *_ = env.step(env.action_space.sample())
        assert obs.shape == (11,) and np.isfinite(reward)
    finally:
        env.close()


def test_a_v4_task_that_does_not_build_says_why(monkeypatch):
    def broken(env_id, **kw):
        raise AttributeError("module 'mujoco' has no attribute 'mj_somethingOld'")

    monkeypatch.setattr(mujoco_v4.gym, "make", broken)
    with pytest.raises(ValueError, match="Ant-v4 does not build with gymnasium") as e:
        make_env("Ant-v4", 1)
    assert "mj_somethingOld" in str(e.value) and "train Ant-v5 instead" in str(e.value)


def test_a_gymnasium_without_v4_says_so(monkeypatch):
    registry = {k: v for k, v in gym.registry.items() if k != "Humanoid-v4"}
    monkeypatch.setattr(gym, "registry", registry)
    monkeypatch.setattr(mujoco_v4.gym, "registry", registry)
    with pytest.raises(ValueError, match="do not register Humanoid-v4.*published on"):
        resolve_task("Humanoid-v4")
    with pytest.raises(ValueError, match="Humanoid-v5 instead"):
        make_env("Humanoid-v4", 1)


@pytest.mark.parametrize("task", BENCHMARK_TASKS, ids=lambda t: t.env_id)
def test_every_task_constructs_and_steps(task):
    if not suite_installed(task.suite):
        pytest.skip(f"{task.suite} is not installed ({SUITE_PACKAGES[task.suite]})")
    spec = resolve_task(task.env_id)
    env = make_env(task.env_id, spec.preset.action_repeat)
    try:
        obs, _ = env.reset(seed=0)
        assert obs.shape == (spec.obs_dim,)
        obs, reward, terminated, truncated, _ = env.step(np.zeros(spec.action_dim))
        assert obs.shape == (spec.obs_dim,) and np.isfinite(reward)
    finally:
        env.close()


def test_halfcheetah_v4_and_v5_are_the_same_task_step_for_step():
    """Gymnasium's HalfCheetah-v5 changed only the API (docs/guides/protocol.md), so a
    -v5 HalfCheetah result is a -v4 one; the other four tasks differ (Walker2d here)."""

    def rollout(env_id, steps=200):
        env = make_env(env_id, 1)
        obs, _ = env.reset(seed=3)
        rng = np.random.default_rng(0)
        out = [obs]
        for _ in range(steps):
            obs, reward, terminated, truncated, _ = env.step(rng.uniform(-1, 1, 6))
            out.append(np.append(obs, reward))
            if terminated or truncated:
                break
        env.close()
        return out

    v4, v5 = rollout("HalfCheetah-v4"), rollout("HalfCheetah-v5")
    assert len(v4) == len(v5) == 201
    assert all(np.array_equal(a, b) for a, b in zip(v4, v5, strict=True))
    w4, w5 = rollout("Walker2d-v4"), rollout("Walker2d-v5")
    assert not all(np.array_equal(a, b) for a, b in zip(w4, w5, strict=False))


@pytest.mark.parametrize("env_id", ["HalfCheetah-v4", "dmc:cheetah-run"])
def test_building_a_task_prints_no_settotalmass_deprecation(env_id, capfd):
    """Both cheetah model files use MuJoCo's deprecated ``settotalmass``: not our files,
    so ``simbarl tasks`` and every run on them stay quiet about it."""
    make_env(env_id, 1).close()
    assert "settotalmass" not in capfd.readouterr().err


def test_other_mujoco_warnings_still_reach_the_handler():
    import mujoco

    from simbarl.envs.mujoco_warnings import quiet_env_build

    seen = []
    mujoco.set_mju_user_warning(seen.append)
    try:
        with quiet_env_build():
            mujoco.get_mju_user_warning()("compiler attribute 'settotalmass' is deprecated")
            mujoco.get_mju_user_warning()("Nan, Inf or huge value in QACC")
        assert mujoco.get_mju_user_warning() == seen.append  # restored
    finally:
        mujoco.set_mju_user_warning(None)
    assert seen == ["Nan, Inf or huge value in QACC"]


def test_no_glfw_traceback_without_a_display():
    """dm_control's first import tries GLFW; without a display that warned with a traceback
    (in ``simbarl tasks``, a sweep, the docs build)."""
    import os
    import subprocess
    import sys

    env = {k: v for k, v in os.environ.items() if k not in ("DISPLAY", "MUJOCO_GL")}
    code = "from simbarl.envs.registry import make_env; make_env('dmc:cartpole-swingup', 2).close()"
    done = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert "DISPLAY" not in done.stderr and "GLFW" not in done.stderr, done.stderr
