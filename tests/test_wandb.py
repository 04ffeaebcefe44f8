"""--wandb: every metrics row, the config and the evaluations reach W&B (offline mode)."""

import dataclasses
import sys
import types

import pytest
import tiny_config

from simbarl.runs.metrics import read_metrics
from simbarl.train.run import train
from simbarl.train.wandb_sink import ID_FILE, WandbSink


class FakeRun:
    def __init__(self, runs, **kw):
        self.kw, self.rows, self.finished = kw, [], False
        runs.append(self)

    def log(self, row, step):
        self.rows.append((step, row))

    _log = log

    def finish(self):
        self.finished = True


@pytest.fixture
def fake_wandb(monkeypatch):
    runs = []
    module = types.SimpleNamespace(init=lambda **kw: FakeRun(runs, **kw))
    monkeypatch.setitem(sys.modules, "wandb", module)
    return runs


def _point_mass(tmp_path, **kw):
    """800 steps of jax:PointMass: training rows at 200..800, evaluations and
    ``dynamics/...`` rows at 400 and 800."""
    base = dict(env="jax:PointMass", steps=800, num_envs=4, warmup_steps=200, log_every=200)
    base.update(eval_every=400, eval_episodes=2, analyze_every=400, analyze_batch=16)
    base.update(wandb=True, wandb_project="p", wandb_group="g")
    base.update(kw)
    return tiny_config.tiny(tmp_path, **base)


def test_wandb_callback_receives_every_row_the_run_writes(tmp_path, fake_wandb):
    cfg = _point_mass(tmp_path, steps=600)
    result = train(cfg)
    (run,) = fake_wandb
    assert run.finished and run.kw["project"] == "p" and run.kw["group"] == "g"
    assert run.kw["config"]["env"] == "jax:PointMass" and run.kw["name"] == "run"
    rows = read_metrics(result.run_dir)
    assert any("eval/return" in r for r in rows) and any(
        k.startswith("dynamics/") for r in rows for k in r
    )
    assert run.rows == [
        (r["env_step"], {k: v for k, v in r.items() if k != "env_step"}) for r in rows
    ]
    # a resumed run continues the same W&B run, and is finished again at its end
    assert run.kw["id"] == (tmp_path / "run" / ID_FILE).read_text().strip()
    train(dataclasses.replace(cfg, steps=800), resume=result.run_dir)
    resumed = fake_wandb[1]
    assert resumed.kw["id"] == run.kw["id"] and resumed.finished
    assert [step for step, _ in resumed.rows][-1] == 800
    assert resumed.rows[0][0] > 600  # the rows after the checkpoint, not the old ones again


def test_a_failing_wandb_call_is_reported_once_and_dropped(tmp_path, fake_wandb, capfd):
    def broken(self, row, step):
        raise ConnectionError("wandb service is gone")

    FakeRun.log = broken
    try:
        result = train(_point_mass(tmp_path, analyze_every=0))
    finally:
        FakeRun.log = FakeRun._log
    assert result.env_step == 800 and not result.interrupted
    assert [r["env_step"] for r in read_metrics(result.run_dir) if "eval/return" in r] == [
        400,
        800,
    ]
    err = capfd.readouterr().err
    assert err.count("W&B logging of run") == 1, err
    assert f"run {result.run_dir} failed (wandb service is gone)" in err
    assert "Traceback" not in err


def test_missing_wandb_is_a_clear_error_before_any_work(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "wandb", None)  # import wandb raises ImportError
    with pytest.raises(ValueError, match=r"pip install 'simbarl\[wandb\]'"):
        train(tiny_config.tiny(tmp_path, wandb=True))
    assert not (tmp_path / "run").exists()


def test_offline_wandb_receives_the_rows(tmp_path, monkeypatch):
    wandb = pytest.importorskip("wandb")
    monkeypatch.setenv("WANDB_MODE", "offline")
    monkeypatch.setenv("WANDB_SILENT", "true")
    cfg = tiny_config.tiny(tmp_path, wandb=True)
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    sink = WandbSink()
    sink.open(cfg, run_dir)
    sink.on_log(run_dir, {"env_step": 100, "dynamics/critic/elr/total": 0.25})
    sink.on_log(run_dir, {"env_step": 200, "eval/return": 7.5})
    sink.on_end(run_dir)
    assert wandb.run is None
    # wandb >= 0.2x keeps offline runs as protobuf records (read by its Go core): the
    # history keys, values and the config appear in the file as their JSON/strings.
    (records,) = run_dir.glob("wandb/offline-run-*/run-*.wandb")
    data = records.read_bytes()
    for text in ("dynamics/critic/elr/total", "0.25", "eval/return", "7.5", "cartpole-swingup"):
        assert text.encode() in data, text


def test_evolve_sends_a_row_per_generation(tmp_path, fake_wandb):
    from simbarl.cli import main

    argv = ["evolve", "--population", "2", "--generations", "2", "--evo-steps", "100"]
    argv += ["--fitness-episodes", "1", "--mutation-probs", "none=1", "--env", "Pendulum-v1"]
    argv += ["--warmup-steps", "100", "--batch-size", "16", "--updates-per-step", "1"]
    argv += ["--agent.actor.width", "16", "--agent.critic.width", "16", "--no-progress"]
    argv += ["--no-tensorboard", "--wandb", "--wandb-project", "p"]
    assert main([*argv, "--run-dir", str(tmp_path / "evolve")]) == 0
    (run,) = fake_wandb
    assert run.finished and run.kw["project"] == "p" and run.kw["name"] == "evolve"
    rows = read_metrics(tmp_path / "evolve")
    assert [r["generation"] for r in rows] == [1, 2]
    assert run.rows == [
        (r["env_step"], {k: v for k, v in r.items() if k != "env_step"}) for r in rows
    ]
