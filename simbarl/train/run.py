"""``train(cfg)``: the one entry point, a session with the engine for the task.

Gymnasium tasks train with the host engine (``online.py``), ``mjx:``/``brax:``/``jax:``
tasks with the device engine (``device.py``); the session (``session.py``)
does the rest.
"""

from __future__ import annotations

import contextlib
from pathlib import Path

from simbarl.config import TrainConfig
from simbarl.envs.device_tasks import is_device_task
from simbarl.runs.lock import RunLocks
from simbarl.train.callbacks import Callback, OnEval
from simbarl.train.device import DeviceEngine
from simbarl.train.online import HostEngine
from simbarl.train.results import RunResult
from simbarl.train.session import Session
from simbarl.train.stop import Aborted, StopFlag
from simbarl.train.wandb_sink import require_wandb


def train(
    cfg: TrainConfig,
    resume: str | Path | None = None,
    on_eval: OnEval | None = None,
    callbacks: list[Callback] | None = None,
    engine: str | None = None,
    locks: RunLocks | None = None,
) -> RunResult:
    """Train online. ``resume``: a run directory whose checkpoint to continue.

    ``on_eval(env_step, mean_return)`` is called after each evaluation has been
    logged and checkpointed; returning True stops the run there (a hyperparameter
    search's pruner stops poor trials this way, keeping their checkpoints).

    With ``cfg.vmap_seeds = N > 1`` the run directory holds ``seed<k>`` runs,
    trained together by one vmapped learner (``train/seeds.py``).

    ``callbacks``: ``Callback`` objects (``train/callbacks.py``) whose ``on_eval``,
    ``on_log`` and ``on_checkpoint`` hooks see the run and may stop it.

    ``engine``: ``"host"`` or ``"device"``; by default the device engine for
    ``mjx:``/``brax:``/``jax:`` tasks (the host engine also runs them, one env step per
    call: how ``tests/test_host_device_equal.py`` compares the two). The run
    directories are locked (``runs/lock.py``) until this returns; ``locks``: the caller's
    ``RunLocks``, holding the run directory already (a sweep run decides a run's fate
    under its lock), released by the caller.
    """
    if cfg.wandb:
        require_wandb()  # at the door, before any run directory is written
    kind = engine or ("device" if is_device_task(cfg.env) else "host")
    if kind not in ENGINES:
        raise ValueError(f"unknown engine {kind!r}; choose {' or '.join(ENGINES)}")
    if kind == "device" and not is_device_task(cfg.env):
        raise ValueError(f"the device engine runs mjx:, brax: and jax: tasks, not {cfg.env}")
    if kind == "host" and cfg.asymmetric_observation and is_device_task(cfg.env):
        raise ValueError("--asymmetric-observation trains in the device loop (engine 'device')")
    if kind == "device" and cfg.overlap:
        raise ValueError(
            f"--overlap is the host loop's; {cfg.env} trains in the device loop, where the "
            "envs and the updates already run together in one jitted scan: drop --overlap"
        )
    held = RunLocks() if locks is None else contextlib.nullcontext(locks)
    # Ctrl-C and SIGTERM are handled from here on, start-up included (``stop.py``).
    with held as locks, StopFlag() as stop:
        session = None
        try:
            session = Session(cfg, resume, locks, callbacks, on_eval)
            stepper = ENGINES[kind](session)
            return session.run(stepper, stop)
        except Aborted:
            raise
        except KeyboardInterrupt:  # during start-up, or a second signal
            raise stop.aborted(_run_dir(session, resume), resume is not None) from None


def _run_dir(session: Session | None, resume) -> Path | None:
    """The directory a run stopped at once was writing, if it had one yet."""
    if session is not None and (session.group_dir or session.seats):
        return Path(session.group_dir or session.seats[0].run_dir)
    return None if resume is None else Path(resume)


ENGINES = {"host": HostEngine, "device": DeviceEngine}
