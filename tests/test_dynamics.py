"""The training-dynamics probe in the training loops: rows logged, training unchanged."""

import math
import subprocess
import sys
import warnings
from functools import partial
from pathlib import Path

import jax
import numpy as np
import pytest
import tiny_config

from simbarl.config import AgentConfig, NetworkConfig
from simbarl.normalizers import init_reward_scaler, init_stats, update_stats
from simbarl.replay import Transition, add, init_replay
from simbarl.runs import run_dir as rd
from simbarl.runs.learner import build_agent, iterations_for, normalization
from simbarl.runs.metrics import read_metrics
from simbarl.train import probe as probe_module
from simbarl.train.probe import AheadProbe, make_probe_fn, probe
from simbarl.train.run import train
from simbarl.train.seeds import Seeds


def tiny(tmp_path, name, **kw):
    small = dict(env="Pendulum-v1", steps=600, batch_size=16, warmup_steps=100)
    small.update(eval_every=600, log_every=200, analyze_batch=32)
    small.update(kw)
    return tiny_config.tiny(tmp_path, name, **small)


def _learner(run_dir):
    with np.load(run_dir / rd.CHECKPOINT_FILE) as data:
        return {k: data[k] for k in data.files if k.startswith("learner")}


def dynamics_rows(run_dir):
    return [r for r in read_metrics(run_dir) if any(k.startswith("dynamics/") for k in r)]


def fell_back(recorded) -> bool:
    """An ahead-compiled probe was called with inputs it was not compiled for."""
    return any("compiled ahead" in str(w.message) for w in recorded)


def test_analysis_on_and_off_train_bit_identically(tmp_path):
    on = train(tiny(tmp_path, "on", analyze_every=200))
    off = train(tiny(tmp_path, "off", analyze_every=0))
    a, b = _learner(on.run_dir), _learner(off.run_dir)
    assert a.keys() == b.keys()
    for k in a:
        np.testing.assert_array_equal(a[k], b[k], err_msg=k)
    rows = dynamics_rows(on.run_dir)
    assert [r["env_step"] for r in rows] == [200, 400, 600]  # learning starts at 100
    assert not dynamics_rows(off.run_dir)
    row = rows[-1]
    for net in ("actor", "critic"):
        for name in (
            "param_norm/total",
            "param_norm/kernels",
            "grad_norm/total",
            "elr/total",
            "step/total",
            "feature_norm/total",
            "feature_norm/embed",
            "feature_norm/embed.pre_norm",
            "feature_norm/block0",
            "dormant/tau0/total",
            "dormant/tau0.1/block0",
            "rank/srank",
            "rank/effective",
        ):
            key = f"dynamics/{net}/{name}"
            assert key in row and math.isfinite(row[key]), key
        # SimbaV2: kernels stay on the unit sphere (each column has norm 1)
        # and features after every l2-normalization have unit norm.
        np.testing.assert_allclose(row[f"dynamics/{net}/feature_norm/block0"], 1.0, rtol=1e-4)
        assert row[f"dynamics/{net}/step/total"] > 0


def test_td3_simba_with_vmapped_seeds_logs_each_seed(tmp_path, recwarn):
    agent = AgentConfig(
        actor=NetworkConfig("simba", 16, 1),
        critic=NetworkConfig("mlp", 16, 2),
        critic_type="scalar",
        weight_projection=False,
        clipped_double_q=True,
    )
    result = train(
        tiny(tmp_path, "group", algo="td3", agent=agent, vmap_seeds=2, analyze_every=300)
    )
    for seed in result.seeds:
        rows = dynamics_rows(seed.run_dir)
        assert [r["env_step"] for r in rows] == [300, 600]
        row = rows[-1]
        assert "dynamics/actor/feature_norm/block0" in row  # simba actor
        assert "dynamics/critic/dormant/tau0/layer1" in row  # mlp critics, mean of the two
        assert all(math.isfinite(v) for v in row.values())
    last = [dynamics_rows(s.run_dir)[-1] for s in result.seeds]
    assert last[0]["dynamics/critic/grad_norm/total"] != last[1]["dynamics/critic/grad_norm/total"]
    assert not fell_back(recwarn)  # the probe compiled ahead had the seed axis


@pytest.mark.parametrize("kw, message", [(dict(analyze_every=-1), "--analyze-every")])
def test_bad_analysis_flags_fail_at_the_door(tmp_path, kw, message):
    with pytest.raises(ValueError, match=message):
        train(tiny(tmp_path, "bad", **kw))


def test_device_loop_logs_dynamics_and_trains_identically(tmp_path, recwarn):
    # analyze_every 300 adds chunk boundaries (300, 900) that the off run does not have
    device = dict(env="jax:PointMass", steps=1200, num_envs=4, warmup_steps=200, log_every=400)
    device.update(eval_every=600, eval_episodes=4)
    on = train(tiny_config.tiny(tmp_path, "on", **device, analyze_every=300, analyze_batch=32))
    off = train(tiny_config.tiny(tmp_path, "off", **device, analyze_every=0))
    a, b = _learner(on.run_dir), _learner(off.run_dir)
    for k in a:
        np.testing.assert_array_equal(a[k], b[k], err_msg=k)
    rows = dynamics_rows(on.run_dir)
    assert [r["env_step"] for r in rows] == [300, 600, 900, 1200]  # learning from 200
    assert all(math.isfinite(v) for v in rows[-1].values())
    np.testing.assert_allclose(rows[-1]["dynamics/critic/feature_norm/embed"], 1.0, rtol=1e-4)
    assert not fell_back(recwarn)  # the probe compiled ahead fits the device loop's inputs


def test_ahead_compiled_probe_logs_the_rows_of_the_jitted_probe(tmp_path, monkeypatch, recwarn):
    # The loop's probe is compiled in a background thread from the run's start; with
    # that off (the plain jitted probe, compiled at its first call) the rows are the same.
    ahead = train(tiny(tmp_path, "ahead", analyze_every=200))
    assert not fell_back(recwarn)
    monkeypatch.setattr(probe_module, "_reaches_a_probe", lambda cfg: False)
    plain = train(tiny(tmp_path, "plain", analyze_every=200))
    strip = lambda rows: [{k: v for k, v in r.items() if k != "perf/probe_s"} for r in rows]
    a, b = strip(dynamics_rows(ahead.run_dir)), strip(dynamics_rows(plain.run_dir))
    assert [r["env_step"] for r in a] == [200, 400, 600]
    assert a == b


def _probe_inputs(cfg, task, agent, n_seeds, capacity):
    """Seed-stacked ``(learner, buffer, norm)`` with 64 random transitions stored."""
    rng = np.random.default_rng(0)
    f32 = lambda *shape: rng.normal(size=shape).astype(np.float32)
    parts = []
    for seed in range(n_seeds):
        n, r = 64, cfg.replay
        buffer = init_replay(capacity, task.obs_dim, task.action_dim, r.prioritized, r.obs_dtype)
        zeros = np.zeros(n, np.float32)
        tr = Transition(
            f32(n, task.obs_dim), np.tanh(f32(n, task.action_dim)), f32(n), f32(n, task.obs_dim),
            zeros, zeros,
        )  # fmt: skip
        stats = update_stats(init_stats((task.obs_dim,)), f32(n, task.obs_dim))
        norm = normalization(cfg, stats, init_reward_scaler(cfg.num_envs))
        parts.append((agent.init(jax.random.PRNGKey(seed)), add(buffer, tr), norm))
    seeds = Seeds(n_seeds)
    learners, buffers, norms = zip(*parts, strict=True)
    return seeds.stack(list(learners)), seeds.stack(list(buffers)), seeds.stack_host(list(norms))


@pytest.mark.parametrize("n_seeds", [1, 2])
def test_ahead_compiled_probe_equals_the_jitted_probe(tmp_path, n_seeds):
    cfg, task = rd.resolve(tiny(tmp_path, "unit", analyze_every=200, vmap_seeds=n_seeds))
    agent = build_agent(cfg, task.obs_dim, task.action_dim)
    probe_fn = make_probe_fn(agent, cfg, n_seeds)
    assert isinstance(probe_fn, AheadProbe)
    fn = partial(
        probe, agent, batch_size=cfg.analyze_batch, replay=cfg.replay, num_envs=cfg.num_envs
    )
    jitted = jax.jit(jax.vmap(fn) if n_seeds > 1 else fn)  # its own cache: compiles anew

    capacity = min(cfg.buffer_size, iterations_for(cfg) * cfg.num_envs)
    args = _probe_inputs(cfg, task, agent, n_seeds, capacity)
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)  # no fallback: the ahead executable ran
        ahead = jax.device_get(probe_fn(*args))
    plain = jax.device_get(jitted(*args))
    assert ahead.keys() == plain.keys() and len(ahead) > 20
    for k in ahead:
        assert np.shape(ahead[k]) == ((n_seeds,) if n_seeds > 1 else ())
        np.testing.assert_array_equal(ahead[k], plain[k], err_msg=k)

    # other shapes (a resumed run's ring of another capacity): compiled on the spot, same values
    other = _probe_inputs(cfg, task, agent, n_seeds, capacity + 8)
    with pytest.warns(RuntimeWarning, match="compiled ahead"):
        fallback = jax.device_get(probe_fn(*other))
    again = jax.device_get(jitted(*other))
    for k in fallback:
        np.testing.assert_array_equal(fallback[k], again[k], err_msg=k)


def test_ahead_compile_errors_surface_at_the_first_call():
    def broken():
        raise ValueError("no shapes")

    probe_fn = AheadProbe(jax.jit(lambda x: x), broken)
    for _ in range(2):
        with pytest.raises(ValueError, match="no shapes"):
            probe_fn(np.zeros(3, np.float32))


def test_no_ahead_compile_for_a_run_that_never_probes(tmp_path):
    cfg, task = rd.resolve(tiny(tmp_path, "short", steps=600, analyze_every=1000))
    probe_fn = make_probe_fn(build_agent(cfg, task.obs_dim, task.action_dim), cfg, 1)
    assert probe_fn is not None and not isinstance(probe_fn, AheadProbe)


def test_exit_waits_for_an_ahead_compile_in_flight():
    # Tearing the interpreter down under a thread inside XLA's compiler aborts the
    # process ("terminate called ..."); exiting right after the probe starts compiling
    # must wait for it and exit cleanly.
    code = """if True:
        import jax, jax.numpy as jnp
        from simbarl.train.probe import AheadProbe

        def f(x):
            for i in range(300):
                x = jnp.tanh(x @ x.T * (i + 1)) @ x + jnp.sin(x) * i
            return x.sum()

        probe_fn = AheadProbe(jax.jit(f), lambda: (jax.ShapeDtypeStruct((64, 64), jnp.float32),))
        probe_fn.start()
        print("leaving")
    """
    root = Path(__file__).resolve().parents[1]
    out = subprocess.run(
        [sys.executable, "-c", code], cwd=root, capture_output=True, text=True, timeout=300
    )
    assert out.returncode == 0, out.stderr[-2000:]
    assert "leaving" in out.stdout and "terminate" not in out.stderr
