"""What ``simbarl evolve`` records per member and generation: ``population.jsonl``.

One row per member per generation: its id, its parent's, the mutation that made
it, its hyperparameters and architecture, its fitness (``null``: diverged), the
mean return of its training episodes, its last losses, and the env steps of its
lineage and of the whole population.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np

from simbarl.config import TrainConfig, get_field
from simbarl.evolve import mutations as mut
from simbarl.evolve.loop import last_losses
from simbarl.files import atomic_open

POPULATION_FILE = "population.jsonl"


def hyperparameters(cfg: TrainConfig) -> dict:
    """The values a hyperparameter mutation may change (those of ``cfg.algo``)."""
    names = [n for n in mut.DEFAULT_RANGES if cfg.algo in mut.ONLY_FOR.get(n, (cfg.algo,))]
    out = {n: get_field(cfg, n) for n in names}
    out["agent.learning_rate_end"] = cfg.agent.learning_rate_end
    return out


def architecture(cfg: TrainConfig) -> dict:
    net = lambda n: {"encoder": n.encoder, "width": n.width, "num_blocks": n.num_blocks}
    return {"actor": net(cfg.agent.actor), "critic": net(cfg.agent.critic)}


def _finite(x: float) -> float | None:
    return None if math.isnan(x) else x


def population_rows(pop, generation, scores, returns, best, lineage, env_step) -> list[dict]:
    rows = []
    for i, (m, slot) in enumerate(zip(pop.members, pop.slots, strict=True)):
        train_return = float(np.mean(slot.returns)) if slot.returns else None
        rows.append(
            {
                "generation": generation,
                "id": m.id,
                "parent": m.parent,
                "mutation": m.mutation,
                "hyperparameters": hyperparameters(m.cfg),
                "architecture": architecture(m.cfg),
                "fitness": _finite(scores[i]),
                "return": _finite(returns[i]),
                "train_return": train_return,
                "elite": i == best,
                "env_steps": lineage,
                "total_env_steps": env_step,
                "losses": last_losses(slot),
            }
        )
    return rows


class PopulationLog:
    """``population.jsonl``: a resume drops the rows of generations after its checkpoint."""

    def __init__(self, path: Path, keep_through: int | None = None):
        self.path = path
        if keep_through is not None and path.exists():
            rows = [json.loads(line) for line in path.read_text().splitlines() if whole_row(line)]
            keep = [r for r in rows if r.get("generation", 0) <= keep_through]
            with atomic_open(path) as f:
                f.write("".join(json.dumps(r) + "\n" for r in keep))

    def write(self, rows: list[dict]) -> None:
        with open(self.path, "a") as f:
            f.write("".join(json.dumps(r) + "\n" for r in rows))


def whole_row(line: str) -> bool:
    """Whether ``line`` is a whole JSON row (not one cut short by a kill)."""
    try:
        return isinstance(json.loads(line), dict)
    except json.JSONDecodeError:
        return False  # a line cut short by a kill
