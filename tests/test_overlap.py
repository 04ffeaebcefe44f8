"""--overlap: the host loop dispatches an agent step's updates before it steps the
envs, then inserts and acts (``step.make_overlap_fns``)."""

import dataclasses

import numpy as np
import pytest
import tiny_config

from simbarl.config import TrainConfig
from simbarl.runs import run_dir as rd
from simbarl.train.run import train


def tiny(path, **kw) -> TrainConfig:
    small = dict(env="Pendulum-v1", steps=600, batch_size=16, warmup_steps=100, overlap=True)
    small.update({"eval_every": 300, "log_every": 300, **kw})
    return tiny_config.tiny(path.parent, path.name, **small)


def _learner(run_dir):
    with np.load(run_dir / rd.CHECKPOINT_FILE) as data:
        return {k: data[k] for k in data.files if k.startswith("learner")}


def test_overlap_makes_as_many_updates_from_other_data(tmp_path):
    on = train(tiny(tmp_path / "on"))
    off = train(tiny(tmp_path / "off", overlap=False))
    a, b = _learner(on.run_dir), _learner(off.run_dir)
    # the same updates (one per step from the warm-up's last step on), from a replay one step behind
    assert a["learner.step"] == b["learner.step"] == 600 - 99
    params = [k for k in a if "params" in k]
    assert params and any(not np.array_equal(a[k], b[k]) for k in params)


def test_vmapped_seeds_overlap_as_each_seed_alone(tmp_path):
    group = train(tiny(tmp_path / "group", seed=3, vmap_seeds=2))
    alone = train(tiny(tmp_path / "alone", seed=4))
    a, b = _learner(alone.run_dir), _learner(group.seeds[1].run_dir)
    assert a.keys() == b.keys()
    for k in a:  # the same computation; vmapped matmuls may round differently
        np.testing.assert_allclose(a[k], b[k], rtol=1e-3, atol=1e-4, err_msg=k)


def test_a_run_with_overlap_says_so(tmp_path, capsys):
    train(tiny(tmp_path / "said", steps=200, eval_every=200, progress="plain"))
    assert "the updates run beside the env steps (--overlap)" in capsys.readouterr().out
    train(tiny(tmp_path / "not", steps=200, eval_every=200, progress="plain", overlap=False))
    assert "--overlap" not in capsys.readouterr().out


def test_the_device_loop_takes_no_overlap(tmp_path):
    cfg = dataclasses.replace(tiny(tmp_path / "dev"), env="jax:PointMass")
    with pytest.raises(ValueError, match="drop --overlap"):
        train(cfg)
