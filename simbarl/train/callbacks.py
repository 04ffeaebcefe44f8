"""Callbacks: how code outside a run watches it and asks it to stop.

A session calls every callback's hooks in order. ``on_eval`` runs after each
evaluation has been logged and checkpointed, ``on_log`` after each row written to
``metrics.jsonl`` (training, evaluation, ``dynamics/...`` and reset rows),
``on_checkpoint`` after each checkpoint is written and ``on_end`` once the run has
ended, however it ended, and its files are closed. ``on_eval`` returning
True ends the run there, as ``--stop-at-return`` does (a search's pruner stops a
poor trial this way, its checkpoint kept); ``on_log`` returning True stops the
run as Ctrl-C does: a checkpoint, then ``RunResult.interrupted``, resumable.
Logging backends attach this way too (``--wandb`` is ``wandb_sink.WandbSink``).

    class StopWhenCriticExplodes(Callback):
        def on_log(self, run_dir, row):
            return row.get("train/critic/loss", 0.0) > 1e3

    simbarl.train(cfg, callbacks=[StopWhenCriticExplodes()])
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

OnEval = Callable[[int, float], bool]
"""``on_eval(env_step, mean_return) -> stop``: the plain-function form of ``Callback.on_eval``."""


class Callback:
    """Override the hooks you need; each default does nothing and never stops the run."""

    def on_eval(self, env_step: int, mean_return: float) -> bool:
        """After an evaluation (mean return over the seeds) and its checkpoint."""
        return False

    def on_log(self, run_dir: Path, row: dict) -> bool:
        """After a row of ``run_dir`` (one call per seed) is written to ``metrics.jsonl``:
        a training row, an evaluation (``eval/...``), a ``dynamics/...`` row or a reset."""
        return False

    def on_checkpoint(self, run_dir: Path, env_step: int) -> None:
        """After ``run_dir``'s checkpoint at ``env_step`` is written."""

    def on_end(self, run_dir: Path) -> None:
        """Once ``run_dir``'s run has ended (its budget, a stop, the pause or an error)
        and its ``metrics.jsonl`` is closed: close what the callback opened for it."""


class EvalCallback(Callback):
    """A plain ``on_eval`` function as a callback."""

    def __init__(self, fn: OnEval):
        self.fn = fn

    def on_eval(self, env_step: int, mean_return: float) -> bool:
        return bool(self.fn(env_step, mean_return))


class Callbacks:
    """Several callbacks as one: a stop asked by any of them stops the run."""

    def __init__(self, callbacks: list[Callback]):
        self.callbacks = list(callbacks)

    def on_eval(self, env_step: int, mean_return: float) -> bool:
        return any([c.on_eval(env_step, mean_return) for c in self.callbacks])

    def on_log(self, run_dir: Path, row: dict) -> bool:
        return any([c.on_log(run_dir, row) for c in self.callbacks])

    def on_checkpoint(self, run_dir: Path, env_step: int) -> None:
        for c in self.callbacks:
            c.on_checkpoint(run_dir, env_step)

    def on_end(self, run_dir: Path) -> None:
        for c in self.callbacks:
            c.on_end(run_dir)


def callback_list(
    callbacks: list[Callback] | None = None, on_eval: OnEval | None = None
) -> Callbacks:
    """``callbacks`` and an ``on_eval`` function as one ``Callbacks``."""
    found = list(callbacks or [])
    for c in found:
        if not isinstance(c, Callback):
            raise TypeError(f"{c!r} is not a simbarl.train.callbacks.Callback")
    if on_eval is not None:
        found.append(EvalCallback(on_eval))
    return Callbacks(found)
