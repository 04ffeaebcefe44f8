"""--vmap-seeds: N seeds in one vmapped learner, each a normal run directory."""

import dataclasses
import json

import numpy as np
import pytest
import tiny_config

from simbarl.config import TrainConfig
from simbarl.runs import run_dir as rd
from simbarl.runs.metrics import read_metrics
from simbarl.train.run import train


def tiny(path, **kw) -> TrainConfig:
    small = dict(env="Pendulum-v1", steps=600, batch_size=16, warmup_steps=100)
    return tiny_config.tiny(path.parent, path.name, **small, eval_every=200, log_every=200, **kw)


def _learner(run_dir):
    with np.load(run_dir / rd.CHECKPOINT_FILE) as data:
        return {k: data[k] for k in data.files if k.startswith("learner")}


@pytest.fixture(scope="module")
def group(tmp_path_factory):
    path = tmp_path_factory.mktemp("vmap") / "group"
    return train(tiny(path, seed=3, vmap_seeds=2)), path


def test_each_seed_is_a_normal_run_directory(group):
    result, path = group
    assert json.loads((path / "config.json").read_text())["vmap_seeds"] == 2
    assert [r.run_dir for r in result.seeds] == [path / "seed3", path / "seed4"]
    for seed, r in zip((3, 4), result.seeds, strict=True):
        cfg = rd.load_config(r.run_dir)
        assert (cfg.seed, cfg.vmap_seeds, cfg.run_dir) == (seed, 1, str(r.run_dir))
        assert [s for s, _ in r.eval_returns] == [200, 400, 600]
        assert any("train/critic/loss" in row for row in read_metrics(r.run_dir))
    finals = [r.eval_returns[-1][1] for r in result.seeds]
    assert finals[0] != finals[1]  # different seeds learn differently
    assert result.eval_returns[-1][1] == pytest.approx(np.mean(finals))
    a, b = _learner(path / "seed3"), _learner(path / "seed4")
    assert all(not np.array_equal(a[k], b[k]) for k in a if "params" in k)


def test_a_vmapped_seed_matches_its_single_seed_run(group, tmp_path):
    result, path = group
    alone = train(tiny(tmp_path / "alone", seed=4))
    grouped = result.seeds[1]
    a, b = _learner(alone.run_dir), _learner(grouped.run_dir)
    assert a.keys() == b.keys()
    for k in a:  # the same computation; vmapped matmuls may round differently
        np.testing.assert_allclose(a[k], b[k], rtol=1e-3, atol=1e-4, err_msg=k)
    np.testing.assert_allclose(
        [r for _, r in alone.eval_returns], [r for _, r in grouped.eval_returns], rtol=1e-3
    )


def test_a_vmapped_group_resumes_bit_for_bit(group, tmp_path):
    result, path = group
    part = train(tiny(tmp_path / "part", seed=3, vmap_seeds=2, pause_at=200))
    assert part.interrupted and part.env_step == 200
    resumed = train(tiny(tmp_path / "part", seed=3, vmap_seeds=2), resume=tmp_path / "part")
    assert resumed.env_step == 600 and not resumed.interrupted
    for seed in ("seed3", "seed4"):
        a, b = _learner(path / seed), _learner(tmp_path / "part" / seed)
        for k in a:
            np.testing.assert_array_equal(a[k], b[k], err_msg=f"{seed} {k}")
    # One seed of the group continues alone as an ordinary run.
    more = train(
        dataclasses.replace(tiny(tmp_path / "part" / "seed4", seed=4), steps=800),
        resume=tmp_path / "part" / "seed4",
    )
    assert [s for s, _ in more.eval_returns] == [800]


def test_a_group_directory_points_to_its_seeds(group):
    from simbarl.runs.load import load_agent

    _, path = group
    with pytest.raises(ValueError, match="seed3"):
        load_agent(path)
    assert load_agent(path / "seed4").config.seed == 4


def test_vmap_seeds_must_be_positive():
    from simbarl.config import validate

    with pytest.raises(ValueError, match="--vmap-seeds must be positive"):
        validate(TrainConfig(vmap_seeds=0))
