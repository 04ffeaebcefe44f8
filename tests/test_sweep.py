"""Sweeps: specs, resolution of tasks and configs, result tables, local and Ray backends."""

import csv
import dataclasses
import json

import numpy as np
import pytest

from simbarl.cli import main
from simbarl.config import apply_overrides, parse_config
from simbarl.envs.benchmark_tasks import BY_ID, lookup, suite_installed
from simbarl.runs.metrics import read_metrics
from simbarl.sweep import backends, runner
from simbarl.sweep.results import (
    aggregate_table,
    final_values,
    format_tables,
    read_csv,
    task_table,
    write_csv,
)
from simbarl.sweep.spec import expand, resolve_tasks
from simbarl.train.run import train

# Tiny runs: 2 evaluations over 400 env steps on short-episode tasks.
TINY = [
    "steps=400",
    "warmup_steps=100",
    "eval_every=200",
    "eval_episodes=1",
    "log_every=200",
    "batch_size=16",
    "updates_per_step=1",
    "tensorboard=false",
    "agent.actor.width=16",
    "agent.critic.width=32",
    "agent.critic.num_blocks=1",
]
# Its label: the preset and the fields TINY changes (the budget, evaluations, logging and
# TensorBoard left out).
LABEL = "simbav2-small_" + "_".join([TINY[1], *TINY[5:7], *TINY[8:]])


def test_parse_config_labels_overrides_and_errors(tmp_path):
    label, d = parse_config("simbav2-small")
    assert label == "simbav2-small" and d["algo"] == "sac" and d["run_dir"] is None
    label, d = parse_config("td3=simbav2-small:algo=td3,agent.critic.width=64", ["steps=1000"])
    assert label == "td3" and d["algo"] == "td3" and d["agent"]["critic"]["width"] == 64
    assert d["steps"] == 1000
    label, d = parse_config("simbav2-small:action_low=[-1,-0.5],seed=3")
    assert d["action_low"] == [-1, -0.5] and label.startswith("simbav2-small_")
    # Per-config overrides win over the common ones.
    assert parse_config("sac-mlp:steps=7", ["steps=1000"])[1]["steps"] == 7
    path = tmp_path / "wide.json"
    path.write_text(json.dumps({"preset": "simbav2-small", "agent": {"critic": {"width": 256}}}))
    label, d = parse_config(f"{path}:updates_per_step=1")
    assert d["agent"]["critic"]["width"] == 256 and d["agent"]["actor"]["width"] == 64
    assert d["updates_per_step"] == 1 and d["preset"] == "simbav2-small"
    # A run's config.json names the --pause-at it was trained with: a sweep does not end there.
    path.write_text(json.dumps({"preset": "simbav2-small", "pause_at": 5000}))
    assert parse_config(str(path))[1]["pause_at"] is None
    assert parse_config(str(path), ["pause_at=300"])[1]["pause_at"] == 300  # --until
    with pytest.raises(ValueError, match="unknown config field 'agent.critic.widht'"):
        parse_config("simbav2:agent.critic.widht=3")
    with pytest.raises(ValueError, match="neither a preset"):
        parse_config("simbav3")
    with pytest.raises(ValueError, match="--batch-size must be positive"):
        parse_config("simbav2:batch_size=0")
    with pytest.raises(ValueError, match="runs its seeds itself"):
        parse_config("simbav2:vmap_seeds=2")
    with pytest.raises(ValueError, match="KEY=VALUE"):
        apply_overrides({"a": 1}, ["a"])


def test_resolve_tasks_groups_ids_and_missing_suites():
    tasks, skipped = resolve_tasks(
        ["mujoco", "dmc:cartpole-swingup,Pendulum-v1", "mujoco", "Hopper-v5"]
    )
    assert tasks[:5] == [
        f"{n}-v4" for n in ("HalfCheetah", "Hopper", "Walker2d", "Ant", "Humanoid")
    ]  # the published versions
    assert tasks[5:] == ["dmc:cartpole-swingup", "Pendulum-v1", "Hopper-v5"] and not skipped
    assert len(resolve_tasks(["dmc-em"])[0]) == 21 and len(resolve_tasks(["dmc"])[0]) == 28
    tasks, skipped = resolve_tasks(["all"])
    assert len(tasks) + len(skipped) == 57
    for env_id in skipped:
        assert not suite_installed(BY_ID[env_id].suite)


def test_expand_gives_every_run_its_own_directory(tmp_path):
    configs = [parse_config("simbav2-small"), parse_config("td3=simbav2-small:algo=td3")]
    specs = expand(["Pendulum-v1", "dmc:cartpole-swingup"], configs, [0, 1], tmp_path)
    assert len(specs) == 8 and len({s.run_dir for s in specs}) == 8
    assert [s.seed for s in specs[:4]] == [0] * 4  # seed-major
    s = specs[3]
    assert s.run_dir == str(tmp_path / "dmc-cartpole-swingup" / "td3" / "seed0")
    cfg = s.train_config()
    assert (cfg.env, cfg.seed, cfg.algo, cfg.run_dir) == (
        "dmc:cartpole-swingup",
        0,
        "td3",
        s.run_dir,
    )
    with pytest.raises(ValueError, match="labels must differ"):
        expand(["Pendulum-v1"], [configs[0], configs[0]], [0], tmp_path)


def _rows():
    rows = []
    for seed, (a, b) in enumerate([(500.0, 5000.0), (700.0, 6000.0), (600.0, 7000.0)]):
        for step, frac in ((50_000, 0.5), (100_000, 1.0)):
            for task, v in (("dmc:cartpole-swingup", a), ("HalfCheetah-v5", b)):
                rows.append(
                    dict(
                        system="s",
                        task=task,
                        metric="avg_return",
                        env_step=step,
                        value=v * frac,
                        seed=seed,
                    )
                )
    rows.append(
        dict(
            system="s",
            task="Pendulum-v1",
            metric="avg_return",
            env_step=100_000,
            value=-150.0,
            seed=0,
        )
    )
    return rows


def test_tables_normalize_and_aggregate(tmp_path):
    rows = _rows()
    write_csv(tmp_path / "r.csv", rows)
    back = read_csv(tmp_path / "r.csv")
    assert sorted(map(str, back)) == sorted(
        map(str, [{**r, "value": float(r["value"])} for r in rows])
    )
    assert final_values(rows)[("s", "HalfCheetah-v5")] == {0: 5000.0, 1: 6000.0, 2: 7000.0}
    assert final_values(rows, step=60_000)[("s", "dmc:cartpole-swingup")][1] == 350.0
    table = {r["task"]: r for r in task_table(rows)}
    hc = lookup("HalfCheetah-v5")  # scored with the -v4 numbers, flagged
    assert table["HalfCheetah-v5"]["normalized"] == pytest.approx(hc.normalize(6000.0))
    assert table["HalfCheetah-v5"]["note"] == "published score is for -v4"
    assert table["HalfCheetah-v5"]["published"] is not None  # the -v4 curve
    assert table["dmc:cartpole-swingup"]["note"] == ""
    assert table["dmc:cartpole-swingup"]["normalized"] == pytest.approx(0.6)
    assert table["Pendulum-v1"]["normalized"] is None and table["Pendulum-v1"]["seeds"] == 1
    assert table["dmc:cartpole-swingup"]["published"] is not None  # from the shipped curves
    aggs = {a["group"]: a for a in aggregate_table(rows, reps=200)}
    assert set(aggs) == {"mujoco", "dmc-em", "overall"}  # Pendulum is not one of the 57
    scores = np.array(
        [[0.5, hc.normalize(5000)], [0.7, hc.normalize(6000)], [0.6, hc.normalize(7000)]]
    )
    assert aggs["overall"]["mean"]["value"] == pytest.approx(scores.mean())
    assert aggs["dmc-em"]["median"]["value"] == pytest.approx(0.6)
    lo, hi = aggs["overall"]["iqm"]["ci_low"], aggs["overall"]["iqm"]["ci_high"]
    assert lo <= aggs["overall"]["iqm"]["value"] <= hi
    assert aggs["mujoco"]["note"] == "HalfCheetah-v5: published score is for -v4"
    assert aggs["dmc-em"]["note"] == ""


def test_v5_rows_are_flagged_and_v4_counts_when_both_ran():
    rows = [r for r in _rows() if r["task"] == "HalfCheetah-v5"]
    rows += [{**r, "task": "HalfCheetah-v4", "value": r["value"] + 1000} for r in rows]
    table = {r["task"]: r for r in task_table(rows)}
    assert table["HalfCheetah-v4"]["note"] == "" and table["HalfCheetah-v5"]["note"]
    v4 = BY_ID["HalfCheetah-v4"]
    assert table["HalfCheetah-v5"]["normalized"] == pytest.approx(v4.normalize(6000.0))
    (agg,) = aggregate_table(rows, reps=50)  # one task, the -v4 one, not two
    assert agg["tasks"] == 1 and agg["note"] == ""
    assert agg["mean"]["value"] == pytest.approx(v4.normalize(7000.0))
    text = format_tables(rows)
    assert "* published score is for -v4: a -v5 result" in text
    v5_line = next(line for line in text.splitlines() if "HalfCheetah-v5" in line)
    assert f"{v4.normalize(6000.0):.3f}*" in v5_line


def _count_eval_steps(run_dir):
    return [r["env_step"] for r in read_metrics(run_dir) if "eval/return" in r]


def test_local_sweep_resumes_skips_and_reports_failures(tmp_path, shared_cache, capsys):
    out = tmp_path / "sweep"
    argv = [
        "sweep",
        "--tasks",
        "Pendulum-v1",
        "Nonexistent-v0",
        "--seeds",
        "2",
        "--out",
        str(out),
        "--workers",
        "2",
        "--set",
        *TINY,
    ]
    # Seed 1 was interrupted half way (as by a cluster's time limit).
    (spec,) = [s for s in expand(["Pendulum-v1"], [parse_config("simbav2-small", TINY)], [1], out)]
    part = train(dataclasses.replace(spec.train_config(), pause_at=200, progress=False))
    assert part.interrupted and runner.status(spec) == "resume"

    # An unknown task id is refused before any run starts (no run is trained or touched).
    assert main(argv) == 2
    assert "unknown environment id 'Nonexistent-v0'" in capsys.readouterr().err
    assert not (out / "Pendulum-v1" / LABEL / "seed0").exists()
    assert runner.status(spec) == "resume"
    argv.remove("Nonexistent-v0")
    # A run that fails at run time is reported with its log and does not stop the others.
    bad = "bad=simbav2-small:action_bounds_from=/nonexistent.npy"
    assert main([*argv, "--config", "simbav2-small", "--config", bad]) == 1
    err = capsys.readouterr().err
    assert err.count("FAILED Pendulum-v1 bad") == 2 and "/nonexistent.npy" in err
    seed0, seed1 = (out / "Pendulum-v1" / LABEL / f"seed{k}" for k in (0, 1))
    assert _count_eval_steps(seed0) == [200, 400]
    assert _count_eval_steps(seed1) == [200, 400]  # resumed, the first evaluation kept once
    with open(out / "results.csv") as f:
        rows = list(csv.DictReader(f))
    assert {(r["seed"], r["env_step"]) for r in rows} == {
        ("0", "200"),
        ("0", "400"),
        ("1", "200"),
        ("1", "400"),
    }
    assert all(r["system"] == LABEL and r["metric"] == "avg_return" for r in rows)
    assert len({r["value"] for r in rows if r["env_step"] == "400"}) == 2  # seeds differ

    # Running it again starts nothing for the finished runs, including one whose
    # checkpoint was deleted to save disk (its metrics show the final evaluation).
    stamp = (seed0 / "checkpoint.npz").stat().st_mtime_ns
    (seed1 / "checkpoint.npz").unlink()
    calls = []
    real_popen = backends.subprocess.Popen
    backends.subprocess.Popen = lambda cmd, **kw: calls.append(cmd) or real_popen(cmd, **kw)
    try:
        assert main([*argv[:3], "--seeds", "2", "--out", str(out), "--set", *TINY]) == 0
    finally:
        backends.subprocess.Popen = real_popen
    assert calls == [] and (seed0 / "checkpoint.npz").stat().st_mtime_ns == stamp
    assert "2 finished, 0 to resume, 0 new" in capsys.readouterr().out
    assert len(read_csv(out / "results.csv")) == 4  # the pruned run's results stay


def test_until_ends_runs_early_on_the_budgets_schedule_and_a_later_sweep_continues(
    tmp_path, shared_cache, capsys
):
    out = tmp_path / "sweep"
    argv = ["sweep", "--tasks", "Pendulum-v1", "--seeds", "1", "--out", str(out)]
    argv += ["--workers", "1", "--set", *TINY]  # a 400-step budget
    assert main([*argv, "--until", "800"]) == 2  # past the budget: refused before any run
    assert "--until 800 is past the budget" in capsys.readouterr().err
    assert not out.exists()

    assert main([*argv, "--until", "200"]) == 0
    run_dir = out / "Pendulum-v1" / LABEL / "seed0"
    assert _count_eval_steps(run_dir) == [200]
    saved = json.loads((run_dir / "config.json").read_text())
    assert saved["steps"] == 400  # the schedule still spans the budget
    assert {r["env_step"] for r in read_csv(out / "results.csv")} == {200}
    assert "0 finished, 0 to resume, 1 new" in capsys.readouterr().out
    assert main([*argv, "--until", "200"]) == 0  # finished at its end: nothing runs
    assert "1 finished, 0 to resume, 0 new" in capsys.readouterr().out

    assert main(argv) == 0  # the same sweep without --until continues to the budget
    assert _count_eval_steps(run_dir) == [200, 400]
    assert {r["env_step"] for r in read_csv(out / "results.csv")} == {200, 400}


def test_results_csv_holds_each_finished_run_even_if_the_sweep_dies(tmp_path, monkeypatch):
    out = tmp_path / "sweep"
    row = {
        "system": "simbav2-small",
        "task": "Pendulum-v1",
        "metric": "avg_return",
        "env_step": 400,
        "value": -500.0,
        "seed": 0,
    }

    def first_run_then_killed(specs, workers, log_dir, on_outcome, on_start=None):
        on_outcome(backends.Outcome(specs[0], "done", 1.0, rows=[row]))
        raise MemoryError  # the sweep process dies while the second run trains

    monkeypatch.setattr(backends, "run_local", first_run_then_killed)
    with pytest.raises(MemoryError):
        main(["sweep", "--tasks", "Pendulum-v1", "--seeds", "2", "--out", str(out)])
    assert read_csv(out / "results.csv") == [row]
    assert [p.name for p in out.iterdir() if p.suffix == ".tmp"] == []


def test_only_a_log_that_reached_the_budget_stands_in_for_a_checkpoint(tmp_path):
    (spec,) = expand(["Pendulum-v1"], [parse_config("simbav2-small", TINY)], [0], tmp_path)
    run_dir = tmp_path / "Pendulum-v1" / LABEL / "seed0"
    assert spec.run_dir == str(run_dir) and runner.status(spec) == "new"
    run_dir.mkdir(parents=True)
    with open(run_dir / "metrics.jsonl", "w") as f:
        f.write(json.dumps({"env_step": 200, "eval/return": -900.0}) + "\n")
        f.write(json.dumps({"env_step": 300, "loss/critic": 1.0}) + "\n")
    # It logged an evaluation but has no checkpoint: kept, never deleted (only --restart).
    assert runner.status(spec) == "kept"
    with open(run_dir / "metrics.jsonl", "a") as f:
        f.write(json.dumps({"env_step": 400, "eval/return": -500.0}) + "\n")
    assert runner.status(spec) == "done"
    assert [r["value"] for r in runner.eval_rows(spec)] == [-900.0, -500.0]


def test_ray_backend_runs_a_micro_sweep(tmp_path, shared_cache):
    ray = pytest.importorskip("ray")
    configs = [parse_config("simbav2-small", TINY)]
    specs = expand(["Pendulum-v1"], configs, [0, 1], tmp_path)
    ray.init(
        num_cpus=2,
        include_dashboard=False,
        runtime_env={"env_vars": shared_cache},
        log_to_driver=False,
    )
    try:
        seen = []
        outcomes = backends.run_ray(specs, None, 1, 0, seen.append)
    finally:
        ray.shutdown()
    assert len(seen) == 2 and {o.state for o in outcomes} == {"done"}, [o.error for o in outcomes]
    for o in outcomes:
        assert [r["env_step"] for r in o.rows] == [200, 400] and runner.status(o.spec) == "done"
    finals = {(o.spec.task, o.spec.seed): o.rows[-1]["value"] for o in outcomes}
    assert finals[("Pendulum-v1", 0)] != finals[("Pendulum-v1", 1)]
