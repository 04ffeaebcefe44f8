"""``train(cfg)``: the one entry point that picks the loop for a task.

Gymnasium tasks train in the host loop (``online.py``), ``mjx:``/``jax:`` tasks
in the device loop (``device.py``). Both return a ``RunResult``.
"""

from __future__ import annotations

from pathlib import Path

from simbarl.config import TrainConfig
from simbarl.envs.device_tasks import is_device_task
from simbarl.train.callbacks import Callback, OnEval
from simbarl.train.device import train_device
from simbarl.train.online import train_host
from simbarl.train.results import RunResult
from simbarl.train.wandb_sink import require_wandb


def train(
    cfg: TrainConfig,
    resume: str | Path | None = None,
    on_eval: OnEval | None = None,
    callbacks: list[Callback] | None = None,
) -> RunResult:
    """Train online. ``resume``: a run directory whose checkpoint to continue.

    ``on_eval(env_step, mean_return)`` is called after each evaluation has been
    logged and checkpointed; returning True stops the run there (a hyperparameter
    search's pruner stops poor trials this way, keeping their checkpoints).

    With ``cfg.vmap_seeds = N > 1`` the run directory holds ``seed<k>`` runs,
    trained together by one vmapped learner (``train/seeds.py``).

    ``callbacks``: ``Callback`` objects (``train/callbacks.py``) whose ``on_eval``,
    ``on_log`` and ``on_checkpoint`` hooks see the run and may stop it.
    """
    if cfg.wandb:
        require_wandb()  # at the door, before any run directory is written
    if is_device_task(cfg.env):
        return train_device(cfg, resume, on_eval, callbacks)
    return train_host(cfg, resume, on_eval, callbacks)
