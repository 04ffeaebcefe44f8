"""Optional Weights & Biases logging (``--wandb``): every metrics row, the config, the evaluations.

As CleanRL and the SimbaV2 reference do, each run directory is one W&B run
whose config is the run's resolved ``TrainConfig`` and whose history is every
row written to ``metrics.jsonl`` (training, evaluation and ``dynamics/...``
rows), at ``env_step``. It attaches as a ``Callback``: the session adds a
``WandbSink`` to the run's callbacks, which receives each row through
``on_log`` and finishes the W&B run in ``on_end``. A ``--vmap-seeds`` group's seeds are
separate W&B runs in one group (the group directory's name unless
``--wandb-group``). The W&B run id is kept in the run directory, so a resumed
run continues the same W&B run. ``WANDB_MODE=offline`` works without an
account (``wandb sync`` uploads later). W&B is a view, not the record: when a
call to it fails, that is reported once and the W&B run is dropped, and training
goes on (``metrics.jsonl`` keeps every row).
"""

from __future__ import annotations

import dataclasses
import importlib
import uuid
from pathlib import Path

from simbarl.runs.metrics import report_dropped
from simbarl.train.callbacks import Callback

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


class WandbSink(Callback):
    """One W&B run per run directory it is opened for, fed with that directory's rows."""

    def __init__(self):
        self.runs: dict[Path, object] = {}

    def open(self, cfg, run_dir: Path, group_dir: Path | None = None) -> None:
        """Start (or, from the id in ``run_dir``, continue) ``run_dir``'s W&B run.

        ``group_dir``: the ``--vmap-seeds`` group directory ``run_dir`` is a seed of,
        whose name groups the seeds' W&B runs (unless ``--wandb-group``)."""
        wandb = require_wandb()
        run_dir = Path(run_dir)
        in_group = group_dir is not None and Path(group_dir) != run_dir
        id_file = run_dir / ID_FILE
        if id_file.is_file():
            run_id = id_file.read_text().strip()
        else:
            run_id = uuid.uuid4().hex[:12]
            id_file.write_text(run_id + "\n")
        self.runs[run_dir] = wandb.init(
            project=cfg.wandb_project,
            entity=cfg.wandb_entity,
            group=cfg.wandb_group or (Path(group_dir).name if in_group else None),
            name=run_dir.name,
            config=dataclasses.asdict(cfg),
            dir=str(run_dir),
            id=run_id,
            resume="allow",
            reinit="create_new",  # --vmap-seeds: one run per seed in this process
        )

    def on_log(self, run_dir: Path, row: dict) -> bool:
        run = self.runs.get(Path(run_dir))
        if run is not None:
            step = int(row.get("env_step", 0))
            try:
                run.log({k: v for k, v in row.items() if k != "env_step"}, step=step)
            except Exception as e:  # W&B raises its own errors besides OSError
                self.runs.pop(Path(run_dir))
                report_dropped(run_dir, "W&B", e)
        return False

    def on_end(self, run_dir: Path) -> None:
        run = self.runs.pop(Path(run_dir), None)
        if run is not None:
            try:
                run.finish()
            except Exception as e:
                report_dropped(run_dir, "W&B", e)
