"""Minari datasets: collect, export-replay, load; flags and boundaries kept exactly."""

import dataclasses

import numpy as np
import pytest
from tiny_config import tiny

pytest.importorskip("minari")

from simbarl.cli import main  # noqa: E402
from simbarl.datasets import (  # noqa: E402
    EnvSpec,
    dataset_id,
    env_spec_of,
    episodes_of,
    load_dataset,
    save_dataset,
    transitions_of,
)
from simbarl.envs.registry import make_env  # noqa: E402
from simbarl.offline.record import record_episodes, replay_episodes  # noqa: E402
from simbarl.runs import checkpoint  # noqa: E402
from simbarl.runs.load import load_agent  # noqa: E402
from simbarl.train.run import train  # noqa: E402


@pytest.fixture(autouse=True)
def datasets_dir(tmp_path, monkeypatch):
    monkeypatch.setenv("MINARI_DATASETS_PATH", str(tmp_path / "datasets"))
    return tmp_path / "datasets"


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    """Two envs that terminate often, in a ring that wraps (101 slots < 400 steps)."""
    path = tmp_path_factory.mktemp("offline")
    cfg = tiny(
        path,
        "run",
        env="InvertedPendulum-v5",
        steps=400,
        num_envs=2,
        buffer_size=101,
        warmup_steps=100,
        eval_every=400,
        batch_size=16,
    )
    return train(cfg).run_dir


class ZeroAgent:
    """A stand-in for a loaded run: Pendulum with a zero policy."""

    def make_env(self):
        return make_env("Pendulum-v1", 1)

    def act(self, obs):
        return np.zeros(1, np.float32)


def _same(a, b):
    assert len(a) == len(b)
    for x, y in zip(a, b, strict=True):
        for f in dataclasses.fields(x):
            np.testing.assert_array_equal(getattr(x, f.name), getattr(y, f.name), err_msg=f.name)


def test_dataset_ids():
    assert dataset_id("hc-medium") == "simbarl/hc-medium-v0"
    assert dataset_id("mujoco/halfcheetah/medium-v2") == "mujoco/halfcheetah/medium-v2"
    with pytest.raises(ValueError, match="dataset name"):
        dataset_id("bad name")


def test_collect_round_trip_keeps_truncations_and_the_env(datasets_dir):
    episodes = record_episodes(ZeroAgent(), 2, seed=0, noise=0.3)
    assert [len(e) for e in episodes] == [200, 200]
    assert episodes[0].truncations[-1] and not episodes[0].truncations[:-1].any()
    assert not np.array_equal(episodes[0].actions, np.zeros_like(episodes[0].actions))  # noise
    spec = EnvSpec("Pendulum-v1", 1, (-1.5,), (1.5,))
    save_dataset("pendulum-zero", episodes, spec, "test")
    for source in ("simbarl/pendulum-zero-v0", str(datasets_dir / "simbarl" / "pendulum-zero-v0")):
        loaded = load_dataset(source)
        _same(episodes_of(loaded), episodes)
        assert env_spec_of(loaded) == spec
    tr = transitions_of(episodes)
    np.testing.assert_array_equal(tr.next_obs[:199], tr.obs[1:200])
    assert tr.truncated.sum() == 2 and tr.terminated.sum() == 0
    with pytest.raises(ValueError, match="pendulum-zero"):  # the local datasets are listed
        load_dataset("simbarl/nothing-v0")
    with pytest.raises(ValueError, match="already exists"):
        save_dataset("pendulum-zero", episodes, spec, "test")


def test_a_relative_datasets_path_works(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("MINARI_DATASETS_PATH", "rel/datasets")  # minari alone fails on this
    episodes = record_episodes(ZeroAgent(), 1, seed=0)
    save_dataset("relative", episodes, EnvSpec("Pendulum-v1", 1), "test")
    _same(episodes_of(load_dataset("simbarl/relative-v0")), episodes)
    assert (tmp_path / "rel" / "datasets" / "simbarl" / "relative-v0").is_dir()


def test_a_failed_save_leaves_no_dataset_behind(datasets_dir, monkeypatch):
    import minari

    episodes = record_episodes(ZeroAgent(), 1, seed=0)

    def fail(*args, **kw):
        (datasets_dir / "simbarl" / "broken-v0" / "data").mkdir(parents=True)  # half written
        raise OSError("disk full")

    monkeypatch.setattr(minari, "create_dataset_from_buffers", fail)
    with pytest.raises(OSError, match="disk full"):
        save_dataset("broken", episodes, EnvSpec("Pendulum-v1", 1), "test")
    assert not (datasets_dir / "simbarl" / "broken-v0").exists()  # the name is free again


def test_collect_from_a_run_with_terminations(run, capsys):
    agent = load_agent(run)
    episodes = record_episodes(agent, 3, seed=1)
    for ep in episodes:  # each episode ends exactly once, by termination or time limit
        assert (ep.terminations | ep.truncations).sum() == 1
        assert ep.terminations[-1] or ep.truncations[-1]
    assert (
        main(
            [
                "collect",
                "--run-dir",
                str(run),
                "--episodes",
                "3",
                "--seed",
                "1",
                "--name",
                "ip-expert",
            ]
        )
        == 0
    )
    assert "simbarl/ip-expert-v0: 3 episodes" in capsys.readouterr().out
    _same(episodes_of(load_dataset("simbarl/ip-expert-v0")), episodes)
    assert env_spec_of(load_dataset("simbarl/ip-expert-v0")) == EnvSpec("InvertedPendulum-v5", 1)


def test_export_replay_holds_the_buffer_as_episodes(run, capsys):
    episodes, spec = replay_episodes(run)
    from simbarl.replay import Transition

    z = lambda *s: np.zeros((0, *s), np.float32)
    trees, meta = checkpoint.load(
        run / "checkpoint.npz",
        {"replay": Transition(z(4), z(1), z(), z(4), z(), z())},
        ragged=("replay",),
    )
    data = trees["replay"]
    assert meta["replay_size"] == 101 and meta["agent_step"] == 400  # the ring wrapped
    tr = transitions_of(episodes)
    assert len(tr.reward) == 101
    key = lambda t: sorted(
        map(tuple, np.column_stack([t.obs, t.action, t.reward, t.next_obs, t.terminated]))
    )
    assert key(tr) == key(data)  # the same transitions, every one once
    assert tr.terminated.sum() == data.terminated.sum()
    for ep in episodes:  # consecutive steps of one env: observations chain up
        assert ep.observations.shape == (len(ep) + 1, 4)
        assert (ep.terminations | ep.truncations).sum() == 1 and (
            ep.terminations[-1] or ep.truncations[-1]
        )
    assert sum(ep.truncations[-1] and not ep.terminations[-1] for ep in episodes) >= 2  # in flight
    assert main(["export-replay", str(run), "--name", "ip-replay"]) == 0
    assert "101 steps" in capsys.readouterr().out
    _same(episodes_of(load_dataset("simbarl/ip-replay-v0")), episodes)
    assert main(["export-replay", str(run.parent), "--name", "x"]) == 2
