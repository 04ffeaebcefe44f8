"""The massively parallel presets carry FastSAC's and FastTD3's settings, each number named
after the source it was read from: FastSAC in holosoma (amazon-far/holosoma,
src/holosoma/holosoma/config_values/algo.py, ``fast_sac``) and FastTD3 on MuJoCo
Playground (younggyoseo/FastTD3, fast_td3/hyperparams.py, ``BaseArgs`` and
``MuJoCoPlaygroundArgs``). The earlier names of these presets still resolve to them, and the
log-std cap FastSAC uses bounds the policy's std in SAC and FlashSAC alike."""

from __future__ import annotations

import dataclasses
import importlib

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from tiny_config import TINY_AGENT, tiny

from simbarl.agents import ALGORITHMS
from simbarl.cli import main
from simbarl.config import (
    PRESET_ALIASES,
    PRESETS,
    AgentConfig,
    NetworkConfig,
    parse_config,
    preset,
    resolve_algo,
    resolve_for_task,
    run_label,
    validate,
)
from simbarl.envs.registry import SUITES, TaskSpec
from simbarl.runs import run_dir as rd
from simbarl.runs.metrics import read_metrics
from simbarl.train.command import start_config
from simbarl.train.results import RunResult
from simbarl.train.run import train


def _resolved(name: str, suite: str = "playground"):
    cfg = preset(name)
    validate(cfg)
    return resolve_for_task(cfg, TaskSpec("some-task", suite, 5, 2, 1000, SUITES[suite]))


@pytest.mark.parametrize("suite", ["playground", "playground_dmc", "jax"])
def test_parallel_sac_carries_fastsac_settings(suite):
    cfg = _resolved("parallel-sac", suite)
    a = cfg.agent
    assert cfg.algo == "sac"
    # batch_size=8192 (global), num_updates=8, policy_frequency=4
    assert (cfg.batch_size, cfg.updates_per_step, a.policy_delay) == (8192, 8, 4)
    # gamma=0.97, tau=0.125, alpha_init=0.001, target_entropy_ratio=0.0
    assert (a.discount, a.tau, a.temperature_init, a.target_entropy_scale) == (
        0.97, 0.125, 1e-3, 0.0)  # fmt: skip
    assert a.learn_temperature  # use_autotune=True
    assert (a.log_std_min, a.log_std_max) == (-5.0, 0.0)  # log_std_min/max
    assert (a.learning_rate, a.learning_rate_end) == (3e-4, 3e-4)  # constant 3e-4
    assert not a.clipped_double_q  # critics on their own targets, actor on their mean
    # buffer_size=1024 per env, learning_starts=10 vector steps; 1024 envs as FastTD3
    assert cfg.num_envs == 1024
    assert (cfg.buffer_size, cfg.warmup_steps) == (1024 * 1024, 10 * 1024)
    # SimbaV2 networks with the 101-bin categorical critic (num_atoms=101)
    assert (a.actor.encoder, a.critic.encoder, a.critic_type, a.num_bins) == (
        "simbav2", "simbav2", "categorical", 101)  # fmt: skip


@pytest.mark.parametrize("suite", ["playground", "playground_dmc", "jax"])
def test_parallel_td3_carries_fasttd3_playground_settings(suite):
    cfg = _resolved("parallel-td3", suite)
    a = cfg.agent
    assert cfg.algo == "td3"
    # batch_size=32768, num_updates=2, policy_frequency=2, use_cdq=True
    assert (cfg.batch_size, cfg.updates_per_step, a.policy_delay) == (32768, 2, 2)
    assert a.clipped_double_q
    # std_min=0.001, std_max=0.4 per env; policy_noise=0.001, noise_clip=0.5
    assert (a.exploration_noise, a.exploration_noise_max) == (0.001, 0.4)
    assert (a.policy_noise, a.noise_clip) == (0.001, 0.5)
    # MuJoCoPlaygroundArgs: gamma=0.97, num_envs=1024, buffer_size=1024*10 per env,
    # num_eval_envs=1024; BaseArgs: tau=0.1, learning_starts=10, lr 3e-4 -> 3e-4
    assert (a.discount, a.tau, cfg.num_envs, cfg.eval_episodes) == (0.97, 0.1, 1024, 1024)
    assert (cfg.buffer_size, cfg.warmup_steps) == (10 * 1024 * 1024, 10 * 1024)
    assert (a.learning_rate, a.learning_rate_end) == (3e-4, 3e-4)
    assert (a.critic_type, a.num_bins) == ("categorical", 101)  # num_atoms=101


def test_earlier_names_resolve_to_one_recipe(monkeypatch, capsys):
    assert PRESET_ALIASES == {"simbav2-parallel": "parallel-sac", "td3-parallel": "parallel-td3"}
    for alias, name in PRESET_ALIASES.items():
        assert alias not in PRESETS  # one definition of each recipe
        assert preset(alias) is PRESETS[name] and preset(alias).preset == name
        assert parse_config(alias)[1]["preset"] == name
        assert run_label({"preset": alias}) == name
    seen = []

    def fake_train(cfg, resume=None):
        seen.append(cfg)
        return RunResult(run_dir="nowhere", env_step=cfg.steps, eval_returns=[])

    monkeypatch.setattr(importlib.import_module("simbarl.train.run"), "train", fake_train)
    assert main(["train", "--preset", "td3-parallel", "--env", "jax:PointMass"]) == 0
    assert seen[0].preset == "parallel-td3" and seen[0].batch_size == 32768
    capsys.readouterr()
    assert main(["presets"]) == 0
    out = capsys.readouterr().out
    assert "td3-parallel      an earlier name of parallel-td3" in out
    assert "simbav2-parallel  an earlier name of parallel-sac" in out
    assert "tau 0.125, policy delay 4, clipped double Q off, temperature 0.001" in out
    assert "log-std in [-5, 0]" in out
    assert "1024 envs, batch 32768, buffer 10,485,760, 10,240 random steps" in out
    assert "exploration std per env from [0.001, 0.4], smoothing std 0.001" in out
    with pytest.raises(ValueError, match="td3-parallel"):  # the names offered include them
        preset("td3-paralel")


def test_a_run_started_under_an_earlier_name_resumes_under_either(monkeypatch):
    old = dataclasses.replace(preset("parallel-sac"), preset="simbav2-parallel")
    monkeypatch.setattr(rd, "load_config", lambda run: old)
    for name in (None, "simbav2-parallel", "parallel-sac"):
        assert start_config(name, resume="some-run") is old
    with pytest.raises(ValueError, match="started from preset 'simbav2-parallel'"):
        start_config("parallel-td3", resume="some-run")


OBS_DIM, ACT_DIM = 5, 3


def _actor(algo: str, **kw):
    """A SAC or FlashSAC agent with tiny networks and its initial state."""
    encoder = "flashsac" if algo == "flashsac" else "simbav2"
    cfg = AgentConfig(actor=NetworkConfig(encoder, 16, 1), critic=NetworkConfig(encoder, 16, 1))
    cfg = resolve_algo(algo, dataclasses.replace(cfg, **kw), True)
    agent = ALGORITHMS[algo](cfg, OBS_DIM, ACT_DIM, discount=0.99, num_critics=2, total_updates=10)
    return agent, agent.init(jax.random.PRNGKey(0))


def _wild_log_std_head(actor):
    """The actor with its log-std head's weights large and of both signs: the raw output
    saturates tanh, so the map reaches both of its ends."""
    params = dict(actor["params"])
    leaves, tree = jax.tree.flatten(params["log_std"])
    keys = jax.random.split(jax.random.PRNGKey(1), len(leaves))
    wild = [
        100.0 * jax.random.normal(k, x.shape, x.dtype) for k, x in zip(keys, leaves, strict=True)
    ]
    params["log_std"] = jax.tree.unflatten(tree, wild)
    return {**actor, "params": params}


@pytest.mark.parametrize("algo", ["sac", "flashsac"])
def test_the_log_std_cap_bounds_the_std(algo):
    obs = jnp.asarray(np.random.default_rng(0).normal(size=(256, OBS_DIM)), jnp.float32)
    ends = {}
    for cap in (0.0, 2.0):  # FastSAC's cap, and the default (SimbaV2's and FlashSAC's)
        agent, state = _actor(algo, log_std_min=-5.0, log_std_max=cap)
        mean, log_std = agent.actor_net.apply(_wild_log_std_head(state.actor), obs)
        ends[cap] = float(log_std.min()), float(log_std.max())
        eps = jax.random.normal(jax.random.PRNGKey(2), (4096, *mean.shape))
        draws = mean + jnp.exp(log_std) * eps  # the Gaussian before the squash
        assert float(draws.std(axis=0).max()) <= np.exp(cap) * 1.05
    assert ends[0.0][1] <= 0.0 and ends[0.0][1] > -0.01  # capped, and the cap is reached
    assert ends[2.0][1] > 1.99 and ends[0.0][0] == ends[2.0][0] == -5.0
    default = AgentConfig()
    assert (default.log_std_min, default.log_std_max) == (-10.0, 2.0)  # today's, unchanged


def _shrunk(name: str, tmp_path, **kw):
    """A preset at test size on jax:PointMass: its learner settings (algorithm, delays,
    target rate, entropy, log-std cap, noise) kept, its sizes shrunk."""
    cfg = preset(name)
    agent = dataclasses.replace(cfg.agent, actor=TINY_AGENT.actor, critic=TINY_AGENT.critic)
    sizes = dict(steps=320, num_envs=8, batch_size=64, warmup_steps=80, buffer_size=1024)
    sizes.update(eval_every=320, eval_episodes=4, log_every=160, **kw)
    base = tiny(tmp_path, name, env="jax:PointMass", **sizes)
    return dataclasses.replace(cfg, **{**_run_fields(base), "agent": agent})


def _run_fields(base) -> dict:
    keep = ("env", "steps", "num_envs", "batch_size", "warmup_steps", "buffer_size")
    keep += ("eval_every", "eval_episodes", "log_every", "progress", "tensorboard", "run_dir")
    return {k: getattr(base, k) for k in keep}


@pytest.mark.parametrize("name", ["parallel-sac", "parallel-td3"])
def test_a_shrunk_parallel_preset_trains_in_the_device_loop(name, tmp_path):
    cfg = _shrunk(name, tmp_path)
    result = train(cfg)
    assert not result.interrupted and result.env_step == 320
    assert [s for s, _ in result.eval_returns] == [320]
    assert np.isfinite(result.eval_returns[-1][1])
    rows = [r for r in read_metrics(result.run_dir) if "train/critic/loss" in r]
    assert len(rows) == 2 and all(np.isfinite(r["train/critic/loss"]) for r in rows)
    if name == "parallel-sac":  # the actor stepped on every 4th of 8 updates, capped
        assert all(r["train/actor/updates"] == 2 for r in rows)
        assert all(r["train/actor/mean_log_std"] <= 0.0 for r in rows)
