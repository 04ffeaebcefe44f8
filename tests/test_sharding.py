"""The device loop split over several devices: the same run as on one, laid out as said."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import jax
import pytest

from simbarl.config import TrainConfig, validate
from simbarl.train import sharding

TESTS = Path(__file__).parent


def _on_two_devices(tmp_path, *args) -> dict:
    """``tests/sharded_runs.py`` in a process whose JAX has two CPU devices."""
    env = {
        **os.environ,
        "XLA_FLAGS": "--xla_force_host_platform_device_count=2",
        "PYTHONPATH": os.pathsep.join([str(TESTS.parent), os.environ.get("PYTHONPATH", "")]),
    }
    cmd = [sys.executable, str(TESTS / "sharded_runs.py"), str(tmp_path), *args]
    done = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-4000:]
    out = json.loads(done.stdout.strip().splitlines()[-1])
    assert out["devices"] == 2
    return out


def test_sharded_device_loop_repeats_the_single_device_run(tmp_path):
    """Two fake CPU devices: the envs, their observations and the replay's rows are split
    and the learner replicated; the warm-up's transitions agree to the bit (same keys,
    same envs), and after 51 updates (paused and resumed from gathered arrays, split
    again) the learner, the replay and the evaluation returns agree to float rounding."""
    out = _on_two_devices(tmp_path)
    split = {"env": [2, True], "obs": [2, True], "replay": [2, True], "learner": [2, False]}
    assert out["layouts"] == [split]  # every chunk, before the pause and after the resume
    assert out["steps"] == [400, 300, 400]
    assert out["updates"] > 40
    assert out["warmup_rows_equal"]
    assert out["learner"] < 1e-4, out
    assert out["replay"] < 1e-4, out
    assert out["eval_one"][-1] == pytest.approx(out["eval_two"][-1], rel=1e-4)


def test_split_vmapped_seeds_with_the_dynamics_probe(tmp_path):
    """Each vmapped seed's run split over two devices repeats its single-device run, and
    the probe runs on the split replay (it once hung there, in XLA:CPU's batched SVD)."""
    out = _on_two_devices(tmp_path, "seeds")
    assert out["learner"] < 1e-4, out
    assert out["probes"] == [2, 2, 2, 2]  # env steps 200 and 300, both seeds, both runs


def test_device_count_must_divide_the_envs_and_the_batch(monkeypatch):
    monkeypatch.setattr(sharding.jax, "local_devices", lambda: jax.devices() * 4)
    assert sharding.device_count(None, num_envs=8, batch_size=64) == 4
    assert sharding.device_count(2, num_envs=6, batch_size=10) == 2
    with pytest.raises(ValueError, match=r"--num-envs \(6\) must divide by the device count"):
        sharding.device_count(None, num_envs=6, batch_size=64)
    with pytest.raises(ValueError, match=r"--batch-size \(10\)"):
        sharding.device_count(4, num_envs=8, batch_size=10)
    with pytest.raises(ValueError, match="more devices than this process has"):
        sharding.device_count(8, num_envs=8, batch_size=64)


def test_devices_must_be_positive():
    with pytest.raises(ValueError, match="--devices must be positive"):
        validate(TrainConfig(devices=0))
