"""The guard of every change to the training loops: the host loop and the device
loop, given the same task, seed and settings, compute the same run.

The task is a pure-JAX one whose episodes all start at the same state, so the
two loops' different env RNG streams (the host seeds each episode from
``(seed, env, episode)``, the device loop splits one key) do not matter: the
same actions give the same observations. What remains legitimately different:

- the running statistics (RSNorm and the reward scaler) are float64 on the
  host and float32 on the device, so normalized inputs differ in the last
  float32 bits, and the parameters drift apart by float32 rounding over the
  updates; the tolerances below allow that and no more;
- evaluation: the host plays ``eval_episodes`` Gymnasium episodes one after
  another, the device loop plays them in parallel; with a fixed start state
  and a deterministic policy both give the same returns.
"""

from __future__ import annotations

import dataclasses
import json

import jax.numpy as jnp
import numpy as np
import pytest
from tiny_config import tiny
from toy_tasks import registered

from simbarl.envs import toy
from simbarl.runs.metrics import read_metrics
from simbarl.train.run import train


class FixedStartPointMass(toy.PointMass):
    """``PointMass`` whose every episode starts at the same position."""

    def reset(self, key):
        del key
        zero = jnp.zeros((), jnp.float32)
        return self._state(jnp.array([0.6, -0.4], jnp.float32), zero, zero)


@pytest.fixture
def fixed_task(monkeypatch):
    yield from registered(monkeypatch, FixedStartPointMass)


def _checkpoint(run_dir) -> dict[str, np.ndarray]:
    """The checkpoint less the envs' state, which is each engine's own (Gymnasium envs
    on the host, one batched pytree on the device)."""
    with np.load(run_dir / "checkpoint.npz") as data:
        arrays = {k: data[k] for k in data.files if not k.startswith("env[")}
    meta = json.loads(bytes(arrays["__meta__"]).decode())
    meta.pop("env_state")
    arrays["__meta__"] = np.frombuffer(json.dumps(meta).encode(), np.uint8)
    return arrays


def _pair(tmp_path, task, **kw):
    base = dict(
        env=task,
        steps=500,
        num_envs=2,
        warmup_steps=100,
        updates_per_step=2,
        eval_every=250,
        eval_episodes=2,
        log_every=250,
        seed=3,
    )
    base.update(kw)
    cfg = tiny(tmp_path, "host", **base)
    host = train(cfg, engine="host")
    device = train(dataclasses.replace(cfg, run_dir=str(tmp_path / "device")), engine="device")
    return host, device


# Host-loop bookkeeping the device loop does not keep (it counts no episodes).
HOST_ONLY = ("loop['episode_index']", "loop['at_episode_start']")


def _close(name: str, a: np.ndarray, b: np.ndarray) -> None:
    """Equal up to float32 rounding, relative to the array's own scale (optimizer
    moments are tiny, parameters of order one)."""
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    scale = np.abs(a).max(initial=0.0)
    np.testing.assert_allclose(a, b, rtol=0, atol=1e-4 * scale + 1e-9, err_msg=name)


def _assert_same_run(host, device) -> None:
    h, d = _checkpoint(host.run_dir), _checkpoint(device.run_dir)
    assert sorted(h) == sorted(d)
    ends = h["replay.terminated"] + h["replay.truncated"]
    assert ends.sum() > 0  # episode boundaries were crossed and handled alike
    for name in h:  # the replay (data), the learner (updates), the loop's statistics
        if name not in HOST_ONLY and h[name].dtype.kind in "fiub":
            _close(name, h[name], d[name])
    assert [s for s, _ in host.eval_returns] == [s for s, _ in device.eval_returns]
    _close("eval", [r for _, r in host.eval_returns], [r for _, r in device.eval_returns])
    rows = lambda run: [r for r in read_metrics(run.run_dir) if "train/critic/loss" in r]
    hrows, drows = rows(host), rows(device)
    assert [r["env_step"] for r in hrows] == [r["env_step"] for r in drows]
    for key in ("train/critic/loss", "train/actor/loss"):
        _close(key, [r[key] for r in hrows], [r[key] for r in drows])


@pytest.mark.parametrize("algo", ["sac", "td3"])
def test_host_and_device_loops_compute_the_same_run(tmp_path, fixed_task, algo):
    _assert_same_run(*_pair(tmp_path, fixed_task, algo=algo))


def test_the_guard_fails_when_the_loops_differ(tmp_path, fixed_task, monkeypatch):
    """One extra update per agent step in the device loop breaks the equality."""
    from simbarl.train import device

    real = device.configured_step

    def one_more(agent, cfg):
        return real(agent, dataclasses.replace(cfg, updates_per_step=cfg.updates_per_step + 1))

    monkeypatch.setattr(device, "configured_step", one_more)
    device.device_fns.cache_clear()
    try:
        runs = _pair(tmp_path, fixed_task, steps=300, eval_every=300, log_every=300)
    finally:
        device.device_fns.cache_clear()
    with pytest.raises(AssertionError):
        _assert_same_run(*runs)
