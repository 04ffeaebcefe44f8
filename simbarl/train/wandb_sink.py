"""Optional Weights & Biases logging (``--wandb``): every metrics row, the config, the evaluations.

As CleanRL and the SimbaV2 reference do, each run directory is one W&B run
whose config is the run's resolved ``TrainConfig`` and whose history is every
row the ``Logger`` writes to ``metrics.jsonl`` (training, evaluation and
``dynamics/...`` rows), at ``env_step``. A ``--vmap-seeds`` group's seeds are
separate W&B runs in one group (the group directory's name unless
``--wandb-group``). The W&B run id is kept in the run directory, so a resumed
run continues the same W&B run. ``WANDB_MODE=offline`` works without an
account (``wandb sync`` uploads later).
"""

from __future__ import annotations

import dataclasses
import importlib
import uuid
from pathlib import Path

ID_FILE = "wandb_id.txt"


def require_wandb():
    """The ``wandb`` module, or a ValueError that says how to install it."""
    try:
        return importlib.import_module("wandb")
    except ImportError as e:
        raise ValueError(
            "--wandb needs the wandb package, which is not installed: "
            "pip install 'simbarl[wandb]' (or pip install wandb), or drop --wandb"
        ) from e


class WandbSink:
    """One W&B run fed with the rows of one run directory's ``Logger``."""

    def __init__(self, cfg, run_dir: Path, group: str | None = None):
        wandb = require_wandb()
        id_file = Path(run_dir) / ID_FILE
        if id_file.is_file():
            run_id = id_file.read_text().strip()
        else:
            run_id = uuid.uuid4().hex[:12]
            id_file.write_text(run_id + "\n")
        self.run = wandb.init(
            project=cfg.wandb_project,
            entity=cfg.wandb_entity,
            group=cfg.wandb_group or group,
            name=Path(run_dir).name,
            config=dataclasses.asdict(cfg),
            dir=str(run_dir),
            id=run_id,
            resume="allow",
            reinit="create_new",  # --vmap-seeds: one run per seed in this process
        )

    def log(self, row: dict) -> None:
        step = int(row.get("env_step", 0))
        self.run.log({k: v for k, v in row.items() if k != "env_step"}, step=step)

    def close(self) -> None:
        self.run.finish()


def wandb_sink(cfg, run_dir: Path, group_dir: Path | None = None) -> WandbSink | None:
    """A sink for ``run_dir`` when ``cfg.wandb``, else None."""
    if not cfg.wandb:
        return None
    in_group = group_dir is not None and Path(group_dir) != Path(run_dir)  # a --vmap-seeds seed
    return WandbSink(cfg, run_dir, Path(group_dir).name if in_group else None)
