"""The session skeleton: its schedule, and callbacks that watch a run and stop it."""

from __future__ import annotations

import dataclasses

import pytest
from tiny_config import tiny

from simbarl.config import TrainConfig
from simbarl.runs.metrics import read_metrics
from simbarl.train.callbacks import Callback, callback_list
from simbarl.train.run import train
from simbarl.train.schedule import Schedule, crossed


def test_crossed_finds_a_multiple_in_the_steps_just_taken():
    assert crossed(1000, 4, 500) and not crossed(1004, 4, 500)
    assert crossed(1003, 8, 500)  # 1000 lies in (995, 1003]
    assert not crossed(1000, 4, 0) and not crossed(1000, 4, None)


def test_schedule_events_and_the_distance_to_the_next():
    cfg = TrainConfig(log_every=300, eval_every=1000, analyze_every=0, reset_at=(700,))
    s = Schedule(cfg, per_iter=4, start_step=0)
    assert s.iterations_to_event(0) == 75  # 300 / 4
    assert s.iterations_to_event(600) == 25  # the reset at 700
    assert s.iterations_to_event(700) == 50  # the log at 900
    due = s.due(700, 4)
    assert due.reset and not due.log and not due.eval and not due.pause
    due = s.due(1000, 100)
    assert due.eval and not due.log  # 900 and 1000 are not both in (900, 1000]
    paused = Schedule(dataclasses.replace(cfg, pause_at=500), 4, start_step=0)
    assert paused.due(500, 4).pause and paused.iterations_to_event(400) == 25
    resumed = Schedule(dataclasses.replace(cfg, pause_at=500), 4, start_step=500)
    assert not resumed.due(504, 4).pause  # a resume goes on past its pause


def _cfg(tmp_path, name="run", **kw):
    base = dict(env="jax:PointMass", steps=800, num_envs=4, warmup_steps=200)
    base.update(log_every=200, eval_every=400, eval_episodes=2)
    base.update(kw)
    return tiny(tmp_path, name, **base)


class Recorder(Callback):
    def __init__(self, stop_log_at=None):
        self.logs, self.evals, self.checkpoints = [], [], []
        self.stop_log_at = stop_log_at

    def on_log(self, run_dir, row):
        self.logs.append((row["env_step"], "eval" if "eval/return" in row else "train"))
        return row["env_step"] == self.stop_log_at

    def on_eval(self, env_step, mean_return):
        self.evals.append(env_step)
        return False

    def on_checkpoint(self, run_dir, env_step):
        self.checkpoints.append(env_step)


def test_callbacks_see_every_log_evaluation_and_checkpoint(tmp_path):
    rec = Recorder()
    result = train(_cfg(tmp_path), callbacks=[rec])
    # every row of metrics.jsonl, in order: training rows and evaluations
    rows = read_metrics(result.run_dir)
    assert rec.logs == [(r["env_step"], "eval" if "eval/return" in r else "train") for r in rows]
    expected = [(s, "train") for s in (200, 400, 600, 800)] + [(400, "eval"), (800, "eval")]
    assert sorted(rec.logs) == sorted(expected)
    assert rec.evals == rec.checkpoints == [400, 800]
    assert not result.interrupted and [s for s, _ in result.eval_returns] == [400, 800]


def test_a_callback_stops_the_run_resumably_and_on_eval_still_works(tmp_path):
    rec = Recorder(stop_log_at=600)
    evals = []
    cfg = _cfg(tmp_path)
    result = train(cfg, on_eval=lambda step, mean: evals.append(step) or False, callbacks=[rec])
    assert result.interrupted and result.env_step == 600
    assert rec.checkpoints == [400, 600] and evals == [400]
    rest = train(cfg, resume=result.run_dir)
    assert not rest.interrupted and rest.env_step == 800
    steps = [r["env_step"] for r in read_metrics(rest.run_dir) if "eval/return" in r]
    assert steps == [400, 800]


def test_callbacks_must_be_callback_objects():
    with pytest.raises(TypeError, match="not a simbarl.train.callbacks.Callback"):
        callback_list([lambda step, mean: False])
