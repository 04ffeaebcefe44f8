"""benchmarks/evolve_table.py: each arm's final returns, env steps and best-return curve
from the files its command writes (population.jsonl, a sweep's results.csv, a study's
trials), and an arm that has not run is left out."""

import json
from pathlib import Path

import pytest

from tests.benchmark_scripts import load_benchmark


@pytest.fixture
def evolve_table():
    return load_benchmark("evolve_table")


def fake_evolve(arm: Path) -> None:
    """Two members, two generations of 100 env steps each (no fitness for a diverged one)."""
    rows = [
        {"generation": 1, "id": 0, "fitness": 10.0, "total_env_steps": 200},
        {"generation": 1, "id": 1, "fitness": 30.0, "total_env_steps": 200},
        {"generation": 2, "id": 1, "fitness": 25.0, "total_env_steps": 400},
        {"generation": 2, "id": 2, "fitness": None, "total_env_steps": 400},
    ]
    arm.mkdir(parents=True)
    (arm / "population.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    (arm / "wall_clock_s.txt").write_text("60\n30\n")  # two invocations (a resume)


def fake_independent(arm: Path) -> None:
    arm.mkdir(parents=True)
    lines = ["system,task,metric,env_step,value,seed"]
    for seed, values in ((0, (5.0, 40.0)), (1, (15.0, 20.0))):
        for step, v in zip((100, 200), values, strict=True):
            lines.append(f"simbav2-small,Pendulum-v1,avg_return,{step},{v},{seed}")
    lines.append("simbav2-small,Pendulum-v1,success,200,1.0,0")  # another metric: ignored
    (arm / "results.csv").write_text("\n".join(lines) + "\n")


def fake_tune(arm: Path) -> None:
    """Trials 0..10, so that trial 10 must come after trial 2 (not after 1)."""
    for trial in range(11):
        run = arm / "trials" / str(trial)
        run.mkdir(parents=True)
        last = 100 if trial == 3 else 200  # trial 3 was pruned at 100
        rows = [{"env_step": last, "eval/return": float(trial)}]
        (run / "metrics.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))


def test_arms_final_returns_steps_and_curves(evolve_table, tmp_path):
    fake_evolve(tmp_path / "Pendulum-v1" / "evolve")
    fake_independent(tmp_path / "Pendulum-v1" / "independent")
    fake_tune(tmp_path / "Pendulum-v1" / "tune")
    arms = evolve_table.table(tmp_path)["Pendulum-v1"]

    evolve = arms["evolve"]
    assert evolve["final"] == [25.0]
    assert evolve["best"] == 25.0 and evolve["env_steps"] == 400
    assert evolve["curve"] == [[200, 30.0], [400, 25.0]]  # the fittest of each generation
    assert evolve["wall_clock_s"] == 90.0

    independent = arms["independent"]
    assert sorted(independent["final"]) == [20.0, 40.0]
    assert independent["env_steps"] == 400 and independent["mean"] == 30.0
    assert independent["curve"] == [[200, 15.0], [400, 40.0]]  # both runs' steps counted
    assert independent["wall_clock_s"] is None

    tune = arms["tune"]
    assert tune["final"] == [float(t) for t in range(11)]
    assert tune["env_steps"] == 10 * 200 + 100
    assert tune["curve"][:4] == [[200, 0.0], [400, 1.0], [600, 2.0], [700, 3.0]]
    assert tune["curve"][-1] == [2100, 10.0]


def test_an_arm_that_has_not_run_is_left_out(evolve_table, tmp_path):
    fake_independent(tmp_path / "dmc-cartpole-swingup" / "independent")
    (tmp_path / "dmc-cartpole-swingup" / "tune").mkdir()  # started, no trial yet
    assert set(evolve_table.table(tmp_path)["dmc-cartpole-swingup"]) == {"independent"}
    (tmp_path / "empty-task").mkdir()
    assert "empty-task" not in evolve_table.table(tmp_path)


def test_json_keeps_tasks_measured_before(evolve_table, tmp_path, monkeypatch):
    """A second invocation (another day, another task) adds its task with its own meta
    and keeps the first; a task measured again is replaced."""
    first, second, out = tmp_path / "first", tmp_path / "second", tmp_path / "evolve.json"
    fake_evolve(first / "Pendulum-v1" / "evolve")
    fake_independent(second / "dmc-cartpole-swingup" / "independent")
    for arg in (first, second):
        monkeypatch.setattr("sys.argv", ["evolve_table", str(arg), "--json", str(out)])
        evolve_table.main()
    tasks = json.loads(out.read_text())["tasks"]
    assert set(tasks) == {"Pendulum-v1", "dmc-cartpole-swingup"}
    evolve = tasks["Pendulum-v1"]["arms"]["evolve"]
    assert evolve["members"] == 2 and evolve["generations"] == 2 and evolve["env_steps"] == 400
    assert set(tasks["Pendulum-v1"]["meta"]) == {"machine", "cpus", "date"}

    fake_independent(first / "Pendulum-v1" / "independent")
    monkeypatch.setattr("sys.argv", ["evolve_table", str(first), "--json", str(out)])
    evolve_table.main()
    assert set(json.loads(out.read_text())["tasks"]["Pendulum-v1"]["arms"]) == {
        "evolve",
        "independent",
    }
