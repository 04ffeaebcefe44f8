"""The table of ``benchmarks/offline.sh``: behaviour return beside offline return.

``python benchmarks/offline_table.py OUT`` reads the online run, the two datasets
and the two offline runs under OUT, prints the table and writes OUT/offline.json.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np

from simbarl.datasets import episodes_of, load_dataset
from simbarl.offline.trainer import d4rl_score
from simbarl.runs.metrics import read_metrics


def _evals(run_dir: Path) -> list[float]:
    return [r["eval/return"] for r in read_metrics(run_dir) if "eval/return" in r]


def _seconds(out: Path, stage: str) -> int | None:
    path = out / f".done-{stage}"
    return int(path.read_text()) if path.is_file() else None


def main(out: Path) -> dict:
    online = json.loads((out / "online" / "config.json").read_text())
    rows = []
    for data in ("medium", "replay"):
        run = out / f"offline-{data}"
        episodes = episodes_of(load_dataset(f"simbarl/offline-bench-{data}-v0"))
        # replay exports hold whole and cut episodes; the mean over whole ones is
        # the fair behaviour figure (a cut episode's return is a partial sum)
        whole = [e for e in episodes if e.terminations[-1] or e.truncations[-1]]
        behaviour = float(np.mean([e.rewards.sum() for e in (whole or episodes)]))
        evals = _evals(run)
        info = json.loads((run / "offline.json").read_text())
        rows.append(
            {
                "dataset": data,
                "transitions": info["transitions"],
                "episodes": info["episodes"],
                "behaviour_return": behaviour,
                "offline_return": evals[-1],
                "offline_best": max(evals),
                "normalized_score": d4rl_score(online["env"], evals[-1]),
                "behaviour_normalized": d4rl_score(online["env"], behaviour),
                "updates": info["updates"],
                "seconds": _seconds(out, f"offline-{data}"),
            }
        )
    result = {
        "env": online["env"],
        "online_steps": online["steps"],
        "online_final_return": _evals(out / "online")[-1],
        "online_seconds": _seconds(out, "online"),
        "rows": rows,
    }
    print(f"{result['env']}: online simbav2-small {result['online_steps']} env steps, "
          f"final return {result['online_final_return']:.1f}")  # fmt: skip
    print("| dataset | transitions | behaviour return | offline return (best) "
          "| normalized (behaviour) | updates | s |")  # fmt: skip
    print("|---|---|---|---|---|---|---|")
    for r in rows:
        norm = lambda v: "n/a" if v is None else f"{v:.1f}"
        print(
            f"| {r['dataset']} | {r['transitions']} | {r['behaviour_return']:.1f} "
            f"| {r['offline_return']:.1f} ({r['offline_best']:.1f}) "
            f"| {norm(r['normalized_score'])} ({norm(r['behaviour_normalized'])}) "
            f"| {r['updates']} | {r['seconds']} |"
        )
    (out / "offline.json").write_text(json.dumps(result, indent=1))
    return result


if __name__ == "__main__":
    main(Path(sys.argv[1] if len(sys.argv) > 1 else "benchmarks/results/offline"))
