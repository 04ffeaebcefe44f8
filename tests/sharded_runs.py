"""One tiny ``jax:PointMass`` config trained on one device and split over two, compared.

``tests/test_sharding.py`` runs this file in a subprocess: the second (fake CPU)
device exists only when ``XLA_FLAGS=--xla_force_host_platform_device_count=2`` is
set before JAX starts, and pytest's process has started it already. The split run
pauses halfway and resumes, so its second half starts from a checkpoint's gathered
arrays split again. Prints one JSON object: ``python tests/sharded_runs.py TMP_DIR``;
with ``seeds`` after it, two vmapped seeds with the training-dynamics probe instead.
"""

from __future__ import annotations

import dataclasses
import json
import sys
from pathlib import Path

import jax
import numpy as np

sys.path.insert(0, str(Path(__file__).parent))
from tiny_config import tiny  # noqa: E402

from simbarl.runs.metrics import read_metrics  # noqa: E402
from simbarl.train import device  # noqa: E402
from simbarl.train.run import train  # noqa: E402

WARMUP = 200  # env steps of random actions: the replay's first rows agree to the bit
# (later rows hold actions of a policy whose updates summed in another order)


def config(tmp: Path, name: str, devices: int, **kw):
    base = dict(env="jax:PointMass", steps=400, num_envs=4, warmup_steps=WARMUP, batch_size=16)
    base.update(log_every=100, eval_every=200, eval_episodes=4, devices=devices, seed=3)
    base.update(kw)
    return tiny(tmp, name, **base)


def spans(carry) -> dict:
    """Devices each part of the loop's state lives on, and whether it is split."""
    parts = {
        "env": jax.tree.leaves(carry.env.inner)[0],
        "obs": carry.obs,
        "replay": carry.buffer.data.obs,
        "learner": jax.tree.leaves(carry.learner)[0],
    }
    return {
        k: [len(x.sharding.device_set), not x.sharding.is_fully_replicated]
        for k, x in parts.items()
    }


def watch(seen: list):
    """Record each distinct layout of the carry a chunk gets."""
    advance = device.DeviceEngine.advance

    def spy(self, limit):
        layout = spans(self.carry)
        if layout not in seen:
            seen.append(layout)
        return advance(self, limit)

    device.DeviceEngine.advance = spy


def checkpoint(run_dir: Path) -> dict:
    with np.load(run_dir / "checkpoint.npz") as data:
        return {k: data[k] for k in data.files}


def difference(a: dict, b: dict, prefix: str) -> float:
    """Largest difference of the ``prefix`` arrays, relative to each array's scale."""
    worst = 0.0
    for k in a:
        if k.startswith(prefix) and a[k].size:
            x, y = a[k].astype(np.float64), b[k].astype(np.float64)
            worst = max(worst, float(np.max(np.abs(x - y)) / (np.max(np.abs(x)) + 1e-12)))
    return worst


def seeds_case(tmp: Path) -> dict:
    """Two vmapped seeds with the training-dynamics probe, split and not."""
    kw = dict(vmap_seeds=2, steps=300, analyze_every=100)
    one, two = (train(config(tmp, f"seeds{d}", devices=d, **kw)) for d in (1, 2))
    pairs = zip(one.seeds, two.seeds, strict=True)
    probed = lambda r: sum("dynamics/actor/param_norm/total" in row for row in read_metrics(r))
    return {
        "devices": len(jax.devices()),
        "learner": max(
            difference(checkpoint(a.run_dir), checkpoint(b.run_dir), "learner.") for a, b in pairs
        ),
        "probes": [probed(s.run_dir) for r in (one, two) for s in r.seeds],
    }


def main(tmp: Path) -> dict:
    one = train(config(tmp, "one", devices=1))
    seen: list = []
    watch(seen)
    split_cfg = config(tmp, "two", devices=2)
    paused = train(dataclasses.replace(split_cfg, pause_at=300))
    two = train(split_cfg, resume=paused.run_dir)
    a, b = checkpoint(one.run_dir), checkpoint(two.run_dir)
    return {
        "devices": len(jax.devices()),
        "layouts": seen,
        "steps": [one.env_step, paused.env_step, two.env_step],
        "eval_one": [r for _, r in one.eval_returns],
        "eval_two": [r for _, r in two.eval_returns],
        "updates": int(a["learner.step"]),
        "learner": difference(a, b, "learner."),
        "replay": difference(a, b, "replay."),
        "warmup_rows_equal": all(
            np.array_equal(a[k][:WARMUP], b[k][:WARMUP]) for k in a if k.startswith("replay.")
        ),
    }


if __name__ == "__main__":
    case = seeds_case if sys.argv[2:] == ["seeds"] else main
    print(json.dumps(case(Path(sys.argv[1]))))
