"""benchmarks/recency_table.py: finished runs enter the table, unfinished ones do not,
and a run summarized before keeps the machine it was recorded on."""

import json
from pathlib import Path

import pytest

from tests.benchmark_scripts import load_benchmark


@pytest.fixture
def recency_table():
    return load_benchmark("recency_table")


def fake_run(out: Path, setting: str, decay: int, seed: int, last: int, final: float) -> None:
    """A run directory of 100 env steps, logged every 20 at 10 env steps/s (2 s per row),
    evaluated every 50 up to ``last``, the final evaluation returning ``final``."""
    run = out / "dmc-cartpole-swingup" / setting / f"seed{seed}"
    run.mkdir(parents=True)
    config = {
        "env": "dmc:cartpole-swingup",
        "seed": seed,
        "steps": 100,
        "replay": {"recency_decay_steps": decay, "recency_min_weight": 0.0},
    }
    (run / "config.json").write_text(json.dumps(config))
    rows = []
    for step in range(20, last + 1, 20):
        rows.append({"env_step": step, "perf/env_steps_per_s": 10.0, "perf/updates_per_s": 5.0})
    for step in range(50, last + 1, 50):
        rows.append({"env_step": step, "eval/return": final if step == 100 else final / 2})
    (run / "metrics.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))


def test_finished_runs_only_with_seed_statistics(recency_table, tmp_path):
    fake_run(tmp_path, "uniform", 0, 0, 100, 800.0)
    fake_run(tmp_path, "uniform", 0, 1, 100, 900.0)
    fake_run(tmp_path, "uniform", 0, 2, 60, 0.0)  # stopped before its final evaluation
    fake_run(tmp_path, "decay80k", 80, 0, 100, 700.0)
    result = recency_table.summarize(tmp_path)
    by_name = {s["setting"]: s for s in result["settings"]}
    assert set(by_name) == {"uniform", "decay80k"}
    uniform = by_name["uniform"]
    assert uniform["seeds"] == [0, 1]
    assert uniform["final"] == {"mean": 850.0, "std": 50.0, "n": 2}
    assert uniform["curve"]["50"]["mean"] == 425.0
    assert uniform["train_seconds"]["mean"] == 10.0  # 100 env steps at 10 per s
    assert by_name["decay80k"]["recency_decay_steps"] == 80
    assert uniform["published"] is None  # no published value at the fake 100-step budget
    assert result["plan"]["seeds"] == [0, 1, 2]


def test_a_run_keeps_the_machine_it_was_first_recorded_on(recency_table, tmp_path):
    fake_run(tmp_path, "uniform", 0, 0, 100, 800.0)
    first = recency_table.summarize(tmp_path)
    first["settings"][0]["runs"][0]["machine"] = "another CPU"
    fake_run(tmp_path, "uniform", 0, 1, 100, 900.0)
    second = recency_table.summarize(tmp_path, previous=first)
    machines = {r["seed"]: r["machine"] for r in second["settings"][0]["runs"]}
    assert machines[0] == "another CPU"
    assert machines[1] == recency_table.cpu_name()
    assert second["meta"]["machines"] == sorted({"another CPU", recency_table.cpu_name()})
