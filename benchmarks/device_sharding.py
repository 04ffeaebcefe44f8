"""The device loop split over several local devices, against the same run on one.

For each task and env count, trains the same config with ``--devices 1`` and with
``--devices D`` for each D in --devices, and reports the steady-state env steps/s
and updates/s (the median of the logged rates after the first chunk, which holds
compilation; ``device_loop.py``'s measurement), alternating the device counts
--repeats times, and the ratio of the medians to one device.

On a machine without accelerators the script makes JAX split the CPU into
--cpu-devices fake devices (``--xla_force_host_platform_device_count``, set before
JAX starts). Fake CPU devices share the same cores, so there the figure is no
speed-up from more hardware: it shows what splitting costs (the collectives, the
look-ups in a split replay), or gains where one device's program leaves a core
idle. Run it on a machine with several GPUs for a speed-up.

    python benchmarks/device_sharding.py --json benchmarks/results/device_sharding_cpu.json
"""

from __future__ import annotations

import argparse
import os

CPU_FLAG = "--xla_force_host_platform_device_count"


def _fake_cpu_devices(argv=None) -> None:
    """Ask XLA for --cpu-devices CPU devices; only before JAX starts does it listen."""
    pre = argparse.ArgumentParser(add_help=False)
    pre.add_argument("--cpu-devices", type=int, default=2)
    count = pre.parse_known_args(argv)[0].cpu_devices
    flags = os.environ.get("XLA_FLAGS", "")
    if CPU_FLAG not in flags:
        os.environ["XLA_FLAGS"] = f"{flags} {CPU_FLAG}={count}".strip()


_fake_cpu_devices()

import dataclasses  # noqa: E402
import datetime  # noqa: E402
import json  # noqa: E402
import platform  # noqa: E402
import statistics  # noqa: E402
import tempfile  # noqa: E402
from pathlib import Path  # noqa: E402

import jax  # noqa: E402
from device_loop import throughput  # noqa: E402
from throughput import cpu_name  # noqa: E402

from simbarl.config import preset  # noqa: E402


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--tasks", nargs="+", default=["jax:PointMass"])
    p.add_argument("--num-envs", nargs="+", type=int, default=[256])
    p.add_argument("--devices", nargs="+", type=int, default=None, help="default: all")
    p.add_argument("--cpu-devices", type=int, default=2, help="fake devices on a CPU")
    p.add_argument("--preset", default="simbav2-small")
    p.add_argument("--batch-size", type=int, default=256)
    p.add_argument("--updates-per-step", type=int, default=2)
    p.add_argument("--iterations", type=int, default=400, help="per measurement")
    p.add_argument("--repeats", type=int, default=2, help="measurements per device count")
    p.add_argument("--json", default=None)
    args = p.parse_args()
    counts = args.devices or [len(jax.local_devices())]
    base = dataclasses.replace(
        preset(args.preset),
        batch_size=args.batch_size,
        updates_per_step=args.updates_per_step,
        progress="off",
        tensorboard=False,
        checkpoint=False,
        analyze_every=0,
    )
    device = jax.local_devices()[0]
    fake = device.platform == "cpu" and len(jax.local_devices()) > 1
    out = {
        "preset": args.preset,
        "backend": jax.default_backend(),
        "device_kind": device.device_kind,
        "local_devices": len(jax.local_devices()),
        "fake_cpu_devices": fake,
        "note": (
            "fake CPU devices share the same cores, so the ratio is no multi-device speed-up: "
            "it shows what splitting costs, or gains where one device leaves a core idle"
            if fake
            else "one process, its local devices"
        ),
        "cpu": cpu_name(),
        "cpu_count": os.cpu_count(),
        "machine": platform.machine(),
        "jax": jax.__version__,
        "date_utc": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "runs": [],
        "summary": [],
    }
    with tempfile.TemporaryDirectory() as tmp:
        for env in args.tasks:
            for n in args.num_envs:
                runs = []
                for rep in range(args.repeats):  # alternated, so that drift hits both
                    for d in [1, *(c for c in counts if c != 1)]:
                        cfg = dataclasses.replace(base, devices=d)
                        row = throughput(cfg, env, n, args.iterations, f"{tmp}/d{d}-r{rep}")
                        row.update(devices=d, repeat=rep)
                        runs.append(row)
                        print(json.dumps(row), flush=True)
                out["runs"] += runs
                out["summary"].append(summary(runs, env, n))
                if args.json:  # partial results survive an interrupted run
                    Path(args.json).parent.mkdir(parents=True, exist_ok=True)
                    Path(args.json).write_text(json.dumps(out, indent=1))
    for row in out["summary"]:
        print(json.dumps(row))


def summary(runs: list[dict], env: str, n: int) -> dict:
    """The median rate of each device count over the repeats, and its ratio to one."""
    rate = {
        d: statistics.median(r["env_steps_per_s"] for r in runs if r["devices"] == d)
        for d in sorted({r["devices"] for r in runs})
    }
    return {
        "env": env,
        "num_envs": n,
        "env_steps_per_s": {str(d): v for d, v in rate.items()},
        "vs_one_device": {str(d): v / rate[1] for d, v in rate.items()},
    }


if __name__ == "__main__":
    main()
