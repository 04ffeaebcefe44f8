"""FlashSAC wherever SAC works: vmapped seeds with the dynamics probe, eval, collect,
offline (FlashSAC with the BC term) and offline-to-online, evolution's resize and
traced hyperparameters, bfloat16 matmuls, sweeps and tune spaces, FLOP counts.
ONNX and policy-file export are tests/test_export.py's (the flashsac case)."""

from __future__ import annotations

import dataclasses
import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import tiny_config
from evolve_helpers import agent_for, flat, tiny_cfg, trained_like, with_net

from simbarl.agents.actor_critic import Batch
from simbarl.cli import main
from simbarl.config import config_to_dict, preset
from simbarl.runs.metrics import read_metrics


def flash_agent(**kw):
    return dataclasses.replace(tiny_config.TINY_FLASHSAC_AGENT, **kw)


def flash_run(path, name, **kw):
    base = dict(env="Pendulum-v1", algo="flashsac", preset="flashsac", steps=300)
    base.update(batch_size=16, warmup_steps=100, eval_every=300, log_every=300)
    base.update(agent=flash_agent(), **kw)
    return tiny_config.tiny(path, name, **base)


@pytest.fixture(scope="module")
def group(tmp_path_factory):
    """Two vmapped seeds of a tiny FlashSAC run with the dynamics probe on."""
    from simbarl.train.run import train

    path = tmp_path_factory.mktemp("flash")
    return train(flash_run(path, "group", vmap_seeds=2, analyze_every=300, analyze_batch=32))


def test_vmapped_seeds_keep_their_own_running_statistics_and_probe(group):
    a, b = group.seeds
    assert [s for s, _ in a.eval_returns] == [300] and a.eval_returns != b.eval_returns
    with np.load(a.run_dir / "checkpoint.npz") as x, np.load(b.run_dir / "checkpoint.npz") as y:
        stats = [k for k in x.files if "batch_stats" in k and k.startswith("learner")]
        assert stats and all(not np.array_equal(x[k], y[k]) for k in stats)
        var = [k for k in stats if k.endswith("var")]
        assert all(not np.allclose(x[k], 1.0) for k in var)  # updated in training mode
    row = [r for r in read_metrics(a.run_dir) if any(k.startswith("dynamics/") for k in r)][-1]
    for net in ("actor", "critic"):
        for name in (
            "param_norm/total",
            "elr/total",
            "step/total",
            "feature_norm/embed",  # the residual stream, which only the RMSNorm normalizes
            "feature_norm/block0",
            "dormant/tau0/block0",
            "rank/effective",
        ):
            key = f"dynamics/{net}/{name}"
            assert key in row and math.isfinite(row[key]), key
        assert row[f"dynamics/{net}/step/total"] > 0
        assert row[f"dynamics/{net}/feature_norm/block0"] != pytest.approx(1.0)
    assert not any("batch_stats" in k for k in row)  # no gradient moves them


def test_eval_collect_offline_and_back_online(group, tmp_path, monkeypatch, capsys):
    from simbarl.train.run import train
    from simbarl.train.warm_start import init_config, online_preset, start

    run = group.seeds[0].run_dir
    assert main(["eval", str(run), "--episodes", "1"]) == 0
    assert "return" in capsys.readouterr().out
    monkeypatch.setenv("MINARI_DATASETS_PATH", str(tmp_path / "minari"))
    assert main(["collect", "--run-dir", str(run), "--episodes", "1", "--name", "flash"]) == 0
    off = tmp_path / "off"
    common = ["--dataset", "simbarl/flash-v0", "--steps", "40", "--batch-size", "16"]
    common += ["--eval-every", "40", "--log-every", "20", "--eval-episodes", "1"]
    common += ["--no-progress", "--no-tensorboard"]
    sizes = ["agent.actor.width=16", "agent.critic.width=32"]
    sizes += ["agent.actor.num_blocks=1", "agent.critic.num_blocks=1"]
    # FlashSAC's update needs FlashSAC's networks: refused with the preset to use
    assert main(["offline", *common, "--algo", "flashsac", "--run-dir", str(off)]) != 0
    assert "--preset flashsac-bc" in capsys.readouterr().err
    args = ["--algo", "flashsac", "--preset", "flashsac-bc", "--run-dir", str(off)]
    assert main(["offline", *common, *args, "--set", *sizes]) == 0
    rows = read_metrics(off)
    assert any("train/actor/bc_loss" in r for r in rows)  # the delayed actor's rows are kept
    # offline-to-online: the weights and running statistics come along
    assert online_preset(off) == "flashsac"
    cfg = init_config(off, preset("flashsac"))
    cfg = dataclasses.replace(
        cfg, steps=200, warmup_steps=100, batch_size=16, eval_every=200, eval_episodes=1
    )
    cfg = dataclasses.replace(cfg, log_every=200, progress=False, tensorboard=False)
    cfg = dataclasses.replace(cfg, run_dir=str(tmp_path / "online"))
    from simbarl.runs import run_dir as rd
    from simbarl.runs.learner import build_agent
    from simbarl.runs.load import load_agent

    resolved, task = rd.resolve(cfg)
    learner, _ = start(build_agent(resolved, task.obs_dim, task.action_dim), resolved, 0, True)
    source = load_agent(off).learner
    for net in ("actor", "critic", "target_critic"):
        jax.tree.map(np.testing.assert_array_equal, getattr(learner, net), getattr(source, net))
    result = train(cfg)
    assert result.eval_returns and np.isfinite(result.eval_returns[-1][1])


def _resized():
    from simbarl.evolve.resize import resize_state

    cfg = tiny_cfg("flashsac", "flashsac", width=16, blocks=1)
    new_cfg = with_net(cfg, "actor", width=32, num_blocks=2)
    old_agent, new_agent = agent_for(cfg), agent_for(new_cfg)
    state = trained_like(old_agent)
    positive = lambda t: {**t, "batch_stats": jax.tree.map(jnp.abs, t["batch_stats"])}
    state = state.replace(
        actor=old_agent.project(positive(state.actor)),
        critic=old_agent.project(positive(state.critic)),
    )
    return old_agent, state, new_agent, resize_state(old_agent, state, new_agent, jax.random.key(3))


def test_widening_and_a_new_block_keep_preserved_units_and_their_statistics():
    old_agent, state, new_agent, out = _resized()
    old, new = flat(state.actor), flat(out.actor)
    assert any(n not in old for n in new)  # the added block
    for names, w in new.items():
        if names not in old:
            if names[-1] == "var":  # an added block's statistics start fresh
                np.testing.assert_array_equal(w, 1.0)
            continue
        sl = tuple(slice(0, min(a, b)) for a, b in zip(old[names].shape, w.shape, strict=True))
        # a widening keeps every preserved entry: kernels' columns stay unit (the added
        # rows are zero), BatchNorm's [scale; bias] and RMSNorm's scale stay of norm
        # sqrt(d) with the fresh units' (1, 0), and the running statistics are copied
        np.testing.assert_allclose(w[sl], old[names][sl], rtol=1e-5, atol=1e-6, err_msg=names)
        if names[-1] == "var" and w.shape != old[names].shape:
            np.testing.assert_array_equal(np.asarray(w)[..., old[names].shape[-1] :], 1.0)
    for a, b in zip(jax.tree.leaves(out.critic), jax.tree.leaves(state.critic), strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-6, atol=1e-7)  # the critic's, re-projected
    batch = _batch(new_agent, 8)
    after, metrics = new_agent.update(out, batch)
    assert np.isfinite(float(metrics["critic/loss"]))


def _batch(agent, n, seed=0):
    rng = np.random.default_rng(seed)
    o, a = agent.obs_dim, agent.action_dim
    f = lambda *s: jnp.asarray(rng.normal(size=s), jnp.float32)
    return Batch(f(n, o), jnp.tanh(f(n, a)), f(n), f(n, o), jnp.zeros((n,)))


def test_hyperparameters_may_be_traced_in_a_population():
    cfg = tiny_cfg("flashsac", "flashsac", width=16, blocks=1)
    agent = agent_for(cfg)
    state = agent.init(jax.random.key(0))
    batches = jax.tree.map(lambda x: x[None], _batch(agent, 8))
    values = {"learning_rate": jnp.asarray([1e-4, 1e-3]), "tau": jnp.asarray([0.01, 0.05])}
    values["target_entropy_scale"] = jnp.asarray([0.5, 1.0])

    def member(hyper):
        return agent.with_hyper(hyper).learn(state, batches)[0]

    both = jax.jit(jax.vmap(member))(values)
    alone = dataclasses.replace(cfg.agent, learning_rate=1e-3, tau=0.05, target_entropy_scale=1.0)
    want = agent_for(dataclasses.replace(cfg, agent=alone)).learn(state, batches)[0]
    got = jax.tree.map(lambda x: x[1], both)
    for a, b in zip(jax.tree.leaves(got.critic), jax.tree.leaves(want.critic), strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)
    first = jax.tree.leaves(both.critic["params"])[0]
    assert not np.allclose(first[0], first[1])


def test_bfloat16_matmuls_reach_every_flashsac_layer():
    cfg = tiny_cfg("flashsac", "flashsac", width=16, blocks=1)
    cfg = dataclasses.replace(cfg, agent=dataclasses.replace(cfg.agent, matmul_dtype="bfloat16"))
    agent = agent_for(cfg)
    state = agent.init(jax.random.key(0))
    obs, act = jnp.zeros((4, agent.obs_dim)), jnp.zeros((4, agent.action_dim))
    for text in (
        str(jax.make_jaxpr(lambda v: agent.actor_net.apply(v, obs))(state.actor)),
        str(jax.make_jaxpr(lambda v: agent.critic_net.apply(v, obs, act))(state.critic)),
    ):
        dots = text.count("dot_general[")  # each multiplies two operands cast to bf16
        assert dots >= 4 and text.count("new_dtype=bfloat16") >= 2 * dots
    _, metrics = agent.update(state, _batch(agent, 8))
    assert np.isfinite(float(metrics["critic/loss"]))


def test_sweeps_and_tune_spaces_take_flashsac(tmp_path, capsys):
    from simbarl.search_space import check_space, parse_space

    out = tmp_path / "sweep"
    configs = ["--config", "flashsac", "--config", "wide=flashsac:agent.critic.width=64"]
    argv = ["sweep", "--tasks", "Pendulum-v1", *configs, "--seeds", "1", "--steps", "1000"]
    assert main([*argv, "--out", str(out), "--dry-run"]) == 0
    text = capsys.readouterr().out
    assert "Pendulum-v1/flashsac/seed0" in text and "Pendulum-v1/wide/seed0" in text
    space = parse_space(
        {
            "params": [
                {"name": "agent.learning_rate", "type": "float", "low": 1e-4, "high": 1e-3},
                {"name": "agent.tau", "type": "float", "low": 0.005, "high": 0.02},
                {"name": "agent.critic.width", "type": "categorical", "choices": [128, 256]},
            ]
        }
    )
    check_space(space, config_to_dict(preset("flashsac")))
    bad = parse_space({"params": [{"name": "agent.critic.encoder", "type": "categorical",
                                   "choices": ["flashsac", "simbav2"]}]})  # fmt: skip
    with pytest.raises(ValueError, match="flashsac"):
        check_space(bad, config_to_dict(preset("flashsac")))


def test_update_flops_count_flashsacs_stacked_batches():
    from simbarl.analysis.flops import forward_flops, update_flops

    agent = agent_for(tiny_cfg("flashsac", "flashsac", width=16, blocks=1))
    s = agent.init(jax.random.key(0))
    a, c = forward_flops(s.actor), forward_flops(s.critic)
    # critic step on 2B rows (target 2C, online 6C) after A; actor step on 2B rows (6A)
    # and the critics on B (2C), every second update
    want = 8 * (a + 8 * c + (6 * a + 2 * c) / 2)
    assert update_flops("flashsac", s.actor, s.critic, 8, 2, policy_delay=2) == want
