"""Replay sized by memory (--buffer-memory GIB): the byte count is the allocation's, the
capacity the largest whole number of vector steps within the budget, recorded in the run's
config; too small a budget and one beyond the device are refused before anything is
written. And batches of 32,768 are drawn inside the device loop's jitted scan."""

from __future__ import annotations

import dataclasses
import json

import jax
import numpy as np
import pytest
from tiny_config import tiny

import simbarl.replay.memory as memory
from simbarl.config import TrainConfig, validate
from simbarl.replay import init_replay
from simbarl.replay.memory import GIB, capacity_for_bytes, replay_bytes
from simbarl.runs import run_dir as rd
from simbarl.runs.metrics import read_metrics
from simbarl.train import device
from simbarl.train.run import train
from simbarl.train.session import Session


def _nbytes(tree) -> int:
    return sum(x.nbytes for x in jax.tree.leaves(tree))


@pytest.mark.parametrize(
    "capacity, obs_dim, action_dim, obs_dtype, prioritized",
    [
        (1000, 17, 6, "float32", False),
        (4096, 170, 29, "bfloat16", False),
        (1000, 17, 6, "float32", True),  # a sum tree of 1024 leaves
        (3, 1, 1, "bfloat16", True),
    ],
)
def test_replay_bytes_is_what_init_replay_allocates(
    capacity, obs_dim, action_dim, obs_dtype, prioritized
):
    buffer = init_replay(capacity, obs_dim, action_dim, prioritized, obs_dtype)
    want = replay_bytes(capacity, obs_dim, action_dim, obs_dtype, prioritized)
    assert _nbytes(buffer) == want


@pytest.mark.parametrize("prioritized", [False, True])
@pytest.mark.parametrize("multiple, copies", [(1, 1), (4, 1), (64, 2)])
def test_the_capacity_is_the_largest_that_fits(prioritized, multiple, copies):
    dims = (5, 2, "bfloat16", prioritized)
    size = lambda c: copies * replay_bytes(c, *dims)
    for budget in [0, 100, size(multiple), size(multiple) - 1, 12_345, 777_777]:
        capacity = capacity_for_bytes(budget, *dims, multiple=multiple, copies=copies)
        assert capacity % multiple == 0
        assert capacity == 0 or size(capacity) <= budget
        assert size(capacity + multiple) > budget  # the next vector step does not fit


def _pm(tmp_path=None, **kw) -> TrainConfig:
    base = dict(env="jax:PointMass", num_envs=4, buffer_memory=2e-5)
    if tmp_path is not None:
        return tiny(tmp_path, **{**base, "steps": 800, "warmup_steps": 80, **kw})
    return TrainConfig(**{**base, **kw})


def test_buffer_memory_sets_the_capacity_from_the_task_sizes():
    cfg, task = rd.resolve(_pm())
    assert (task.obs_dim, task.action_dim) == (2, 2)  # 2 x 2 x 4 + 4 x (2 + 3) = 36 B a slot
    budget = int(2e-5 * GIB)
    assert cfg.buffer_size == (budget - 8) // 36 // 4 * 4 == 596
    bf16 = rd.resolve(_pm(replay=dataclasses.replace(cfg.replay, obs_dtype="bfloat16")))[0]
    assert bf16.buffer_size == (budget - 8) // 28 // 4 * 4  # observations at 2 bytes
    two = rd.resolve(_pm(vmap_seeds=2))[0].buffer_size  # the budget holds both seeds'
    assert 2 * replay_bytes(two, 2, 2) <= budget < 2 * replay_bytes(two + 4, 2, 2)
    assert rd.resolve(_pm(buffer_memory=None, buffer_size=1234))[0].buffer_size == 1234


def test_a_budget_without_one_vector_step_is_refused():
    why = r"holds no vector step of jax:PointMass: one step of 4096 envs takes 0\.141 MiB"
    with pytest.raises(ValueError, match=why):
        rd.resolve(_pm(num_envs=4096, buffer_memory=1e-4))
    with pytest.raises(ValueError, match="--buffer-memory must be a positive GiB count"):
        validate(_pm(buffer_memory=0.0))


def test_a_budget_beyond_the_device_is_refused_before_anything_is_written(tmp_path, monkeypatch):
    monkeypatch.setattr(memory, "free_bytes", lambda device=None: 2**30)  # 1 GiB free
    cfg = _pm(tmp_path, buffer_memory=0.9)  # more than 80% of it
    with pytest.raises(ValueError, match=r"Lower --buffer-memory \(0\.9 GiB\)"):
        train(cfg)
    assert not (tmp_path / "run").exists()


def test_the_device_loop_allocates_the_budget_and_records_the_capacity(tmp_path, monkeypatch):
    opened = []
    real_open = Session.open

    def spy(self, agent, dp=None):
        out = real_open(self, agent, dp)
        opened.append((out.capacity, _nbytes(out.buffers[0])))
        return out

    monkeypatch.setattr(Session, "open", spy)
    cfg = _pm(tmp_path, eval_every=800, eval_episodes=2, log_every=400)
    paused = train(dataclasses.replace(cfg, pause_at=400))
    assert paused.interrupted
    result = train(cfg, resume=paused.run_dir)  # the same capacity, resolved again
    assert not result.interrupted and result.env_step == 800
    assert opened == [(596, replay_bytes(596, 2, 2))] * 2 and opened[0][1] <= 2e-5 * GIB
    saved = json.loads((result.run_dir / "config.json").read_text())
    assert (saved["buffer_size"], saved["buffer_memory"]) == (596, 2e-5)
    with np.load(result.run_dir / "checkpoint.npz") as data:
        assert len(data["replay.reward"]) == 596  # 800 transitions written: the ring is full


def test_batches_of_32768_are_drawn_inside_the_jitted_scan(tmp_path, monkeypatch):
    """Two iterations with batch 32,768 on a tiny network. The chunk the device loop calls
    is one jitted program: its scan draws the (1, 32768) batch, gathers it from the
    replay and updates on it, with no host callback anywhere in the program."""
    traced = []
    real_advance = device.DeviceEngine.advance

    def spy(self, limit):
        if self.session.main.iteration >= self.quiet and not traced:
            args = (self.carry, min(self.chunk_iters, limit))
            kw = dict(length=self.chunk_iters, learn=True)
            traced.append(self._chunk.trace(*args, **kw).jaxpr)
        return real_advance(self, limit)

    monkeypatch.setattr(device.DeviceEngine, "advance", spy)
    cfg = tiny(tmp_path, env="jax:PointMass", num_envs=64, steps=128, warmup_steps=64)
    cfg = dataclasses.replace(cfg, batch_size=32768, eval_every=128, eval_episodes=2)
    result = train(dataclasses.replace(cfg, log_every=64))
    rows = [r for r in read_metrics(result.run_dir) if "train/critic/loss" in r]
    assert [r["env_step"] for r in rows] == [64, 128]
    assert all(np.isfinite(r["train/critic/loss"]) for r in rows)

    (jaxpr,) = traced
    scans = [e for e in _equations(jaxpr.jaxpr) if e.primitive.name == "scan"]
    assert scans, "the chunk is not a scan"
    inside = list(_equations(scans[0].params["jaxpr"].jaxpr))  # the scanned iteration
    shapes = {tuple(v.aval.shape) for e in inside for v in e.outvars if hasattr(v.aval, "shape")}
    assert (1, 32768) in shapes  # the sampled slots, (updates per step, batch)
    assert (1, 32768, 2) in shapes  # the gathered observations
    names = {e.primitive.name for e in _equations(jaxpr.jaxpr)}
    assert not {n for n in names if "callback" in n}


def _equations(jaxpr):
    """Every equation of ``jaxpr`` and of the programs nested in it (scan, cond, pjit)."""
    for eqn in jaxpr.eqns:
        yield eqn
        for value in eqn.params.values():
            for sub in value if isinstance(value, (tuple, list)) else (value,):
                sub = getattr(sub, "jaxpr", sub)  # a closed program's own
                if hasattr(sub, "eqns"):
                    yield from _equations(sub)
