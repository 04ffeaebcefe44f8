"""The 57-task registry: membership, score normalization, selections, published names."""

from collections import Counter

import numpy as np
import pytest

from simbarl.cli import main
from simbarl.envs.benchmark_tasks import (
    BENCHMARK_TASKS,
    SUITE_PACKAGES,
    benchmark_task,
    suite_installed,
    tasks_of,
)
from simbarl.envs.registry import make_env, resolve_task
from simbarl.reference import _rows, published_task_name


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
        ("HalfCheetah-v5", 10574.0, 1.0),  # TD3's score
        ("HalfCheetah-v5", -289.415, 0.0),  # random
        ("Hopper-v5", (18.791 + 3226.0) / 2, 0.5),
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
