"""Preset budgets: simbav2 carries the published 1M steps and 50k evaluations, the quick
start keeps its short default, and --steps overrides a budget (learning-rate decay too)."""

import dataclasses
import importlib

import pytest

from simbarl.cli import main
from simbarl.config import DEFAULT_PRESET, PRESETS, parse_config, preset, resolve_for_task
from simbarl.datasets import EnvSpec
from simbarl.envs.registry import SUITES, TaskSpec
from simbarl.offline.trainer import OFFLINE_PRESETS, OfflineConfig, _train_config
from simbarl.runs.learner import build_agent
from simbarl.train.results import RunResult


def test_simbav2_carries_the_published_budget_and_cadence():
    cfg = preset("simbav2")
    assert (cfg.steps, cfg.eval_every, cfg.eval_episodes) == (1_000_000, 50_000, 10)
    assert (cfg.agent.critic.width, cfg.agent.actor.width, cfg.updates_per_step) == (512, 128, 2)


def test_the_quick_start_keeps_its_short_default():
    assert DEFAULT_PRESET == "simbav2-small"
    small = preset("simbav2-small")
    assert (small.steps, small.num_envs, small.eval_every) == (None, None, 10_000)  # by suite
    assert (small.agent.critic.width, small.agent.actor.width) == (128, 64)
    on = lambda suite: resolve_for_task(small, TaskSpec("t", suite, 5, 1, 1000, SUITES[suite]))
    host, device = on("dmc"), on("playground_dmc")
    assert (host.steps, host.num_envs, host.action_repeat) == (30_000, 1, 2)
    # Playground's DMC ports: DMC's action repeat (so its discount), 16 envs, 500k steps
    assert (device.steps, device.num_envs, device.action_repeat) == (500_000, 16, 2)
    assert host.agent.discount == device.agent.discount == 0.99
    assert on("playground").action_repeat == on("jax").action_repeat == 1
    given = dataclasses.replace(small, steps=1234, num_envs=3)
    resolved = resolve_for_task(given, TaskSpec("t", "jax", 5, 1, 1000, SUITES["jax"]))
    assert (resolved.steps, resolved.num_envs) == (1234, 3)  # what the command line gave wins


def _configs_of(argv, monkeypatch) -> list:
    """The TrainConfig that ``simbarl train ARGV`` would train, without training."""
    seen = []

    def fake_train(cfg, resume=None):
        seen.append(cfg)
        return RunResult(run_dir="nowhere", env_step=cfg.steps, eval_returns=[])

    monkeypatch.setattr(importlib.import_module("simbarl.train.run"), "train", fake_train)
    assert main(["train", *argv]) == 0
    return seen


def test_train_cli_budgets(monkeypatch):
    (quick,) = _configs_of([], monkeypatch)  # `simbarl train`, no flags
    assert (quick.preset, quick.steps, quick.eval_every) == ("simbav2-small", None, 10_000)
    (full,) = _configs_of(["--preset", "simbav2"], monkeypatch)
    assert (full.preset, full.steps, full.eval_every) == ("simbav2", 1_000_000, 50_000)
    (short,) = _configs_of(["--preset", "simbav2", "--steps", "100000"], monkeypatch)
    assert (short.steps, short.eval_every, short.agent.critic.width) == (100_000, 50_000, 512)


@pytest.mark.parametrize("steps, updates", [(None, (1_000_000 - 5_000) * 2), (100_000, 95_000 * 2)])
def test_the_learning_rate_decay_spans_the_budget(steps, updates):
    cfg = preset("simbav2")
    agent_cfg = dataclasses.replace(cfg.agent, discount=0.995)  # as resolved for MuJoCo
    cfg = dataclasses.replace(cfg, env="Hopper-v4", action_repeat=1, num_envs=1, agent=agent_cfg)
    if steps is not None:
        cfg = dataclasses.replace(cfg, steps=steps)
    agent = build_agent(cfg, obs_dim=11, action_dim=3)
    assert agent.total_updates == updates  # UTD 2 after the 5,000 warm-up steps


def test_simbav2_bc_carries_the_published_offline_budget():
    bc = OFFLINE_PRESETS["simbav2-bc"]
    assert (bc.agent.critic.width, bc.agent.bc_alpha) == (512, 0.1)
    assert (bc.agent.learning_rate, bc.agent.learning_rate_end) == (1e-4, 1e-5)
    assert bc.agent.learning_rate_decay == 0.5  # over the first half of the updates
    assert OfflineConfig(dataset="d").epochs == 100
    # The online preset's 1M steps do not leak in: offline steps count the updates run.
    cfg = _train_config(OfflineConfig(dataset="d"), EnvSpec("Pendulum-v1", 1), updates=1234)
    assert cfg.steps == 1234 and cfg.preset == "simbav2-bc"


def test_sweeps_take_the_preset_budget_unless_steps_is_given():
    assert parse_config("simbav2")[1]["steps"] == 1_000_000
    assert parse_config("simbav2", ["steps=100000"])[1]["steps"] == 100_000
    assert parse_config("simbav2-small")[1]["steps"] is None  # by suite


def test_presets_command_shows_each_budget(capsys):
    assert main(["presets"]) == 0
    out = capsys.readouterr().out
    for name in (*PRESETS, *OFFLINE_PRESETS):
        assert name in out
    assert "budget 1,000,000 env steps, eval every 50,000" in out
    assert "budget 30,000 (device tasks 500,000) env steps, eval every 10,000 (default)" in out
    assert "budget 100 epochs (lr decay over the first 50%)" in out
