"""The training-dynamics probe in the training loops: rows logged, training unchanged."""

import math

import numpy as np
import pytest
import tiny_config

from simbarl.config import AgentConfig, NetworkConfig
from simbarl.runs import run_dir as rd
from simbarl.runs.metrics import read_metrics
from simbarl.train.run import train


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


def test_td3_simba_with_vmapped_seeds_logs_each_seed(tmp_path):
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


@pytest.mark.parametrize("kw, message", [(dict(analyze_every=-1), "--analyze-every")])
def test_bad_analysis_flags_fail_at_the_door(tmp_path, kw, message):
    with pytest.raises(ValueError, match=message):
        train(tiny(tmp_path, "bad", **kw))


def test_device_loop_logs_dynamics_and_trains_identically(tmp_path):
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
