"""Where a study lives: a SQLite file by default, any SQLAlchemy URL, or an Optuna journal file.

* ``sqlite:///DIR/study.db`` (the default): one machine, a few workers;
  ``optuna-dashboard DIR/study.db`` reads it.
* ``postgresql://...`` / ``mysql://...``: clusters, many workers.
* ``journal:PATH`` or a path ending in ``.log``/``.journal``: an append-only
  file for a shared filesystem (NFS) where SQLite's locking is unsafe and no
  database server runs.

Database storages run a heartbeat: a trial whose process died stops beating
and, after the grace period, is marked failed (and re-queued with
``retries > 0``), so a crash never leaves a trial running forever.
"""

from __future__ import annotations

import logging
import warnings
from pathlib import Path

try:
    import optuna
except ImportError:  # pragma: no cover - the command says how to install it
    optuna = None

RDB_SCHEMES = ("sqlite", "postgresql", "mysql", "oracle", "mssql")
JOURNAL_SUFFIXES = (".log", ".journal")


def require_optuna():
    """The ``optuna`` module, or an error that says how to install it."""
    if optuna is None:
        raise RuntimeError("simbarl tune needs Optuna: pip install 'simbarl[tune]'")
    return optuna


def quiet_optuna() -> None:
    """Commands only: hide Optuna's per-trial INFO lines and its "experimental" warnings
    (heartbeats, multivariate TPE), which are features we chose, not news to the user."""
    opt = require_optuna()
    opt.logging.set_verbosity(opt.logging.WARNING)
    warnings.filterwarnings("ignore", category=opt.exceptions.ExperimentalWarning)
    logger = logging.getLogger("optuna.study._optimize")
    if not any(isinstance(f, _StoppedTrials) for f in logger.filters):
        logger.addFilter(_StoppedTrials())


class _StoppedTrials(logging.Filter):
    """Drops Optuna's "Trial N failed ..." lines (the first with a traceback) of a trial
    stopped by Ctrl-C or a full disk: the command says what happened and how to go on."""

    def __init__(self):
        super().__init__()
        self.stopped: set[str] = set()

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        trial = message.split(" failed", 1)[0] if message.startswith("Trial ") else None
        error = record.exc_info[1] if record.exc_info else None
        if isinstance(error, KeyboardInterrupt) and trial is not None:
            self.stopped.add(trial)
            return False
        if trial in self.stopped and " failed with value " in message:  # its last line
            self.stopped.discard(trial)
            return False
        return True


def default_url(out: str | Path) -> str:
    return f"sqlite:///{Path(out) / 'study.db'}"


def storage_kind(url: str) -> str:
    """``rdb`` or ``journal``, or an error naming the forms a storage may take."""
    if url.startswith("journal:") or url.endswith(JOURNAL_SUFFIXES):
        return "journal"
    scheme = url.partition("://")[0].partition("+")[0]
    if "://" in url and scheme in RDB_SCHEMES:
        return "rdb"
    raise ValueError(
        f"storage {url!r} is not understood: use sqlite:///PATH.db, postgresql://USER@HOST/DB, "
        "mysql://USER@HOST/DB (any SQLAlchemy URL), or an Optuna journal file journal:PATH "
        "(or PATH.log) on a shared filesystem"
    )


def open_storage(url: str, heartbeat: float = 60.0, retries: int = 1):
    """An Optuna storage for ``url``; fails with what is wrong if it cannot be opened.

    ``heartbeat``: seconds between a running trial's heartbeats (database storages;
    a trial silent for twice that is failed). ``retries``: how often such a crashed
    trial is queued again with its parameters (0: it stays failed, skipped).
    """
    opt = require_optuna()
    kind = storage_kind(url)
    try:
        if kind == "journal":
            return _journal(opt, url.removeprefix("journal:"))
        return _rdb(opt, url, heartbeat, retries)
    except ValueError:
        raise
    except Exception as e:  # a driver missing, a server not reachable, a bad path
        raise ValueError(f"cannot open the storage {url}: {type(e).__name__}: {e}") from e


def _journal(opt, path: str):
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    journal = opt.storages.journal if hasattr(opt.storages, "journal") else None
    if journal is not None and hasattr(journal, "JournalFileBackend"):
        return opt.storages.JournalStorage(journal.JournalFileBackend(path))
    return opt.storages.JournalStorage(opt.storages.JournalFileStorage(path))  # optuna < 4


def _rdb(opt, url: str, heartbeat: float, retries: int):
    kwargs = {"heartbeat_interval": int(heartbeat), "grace_period": int(2 * heartbeat)}
    if retries > 0:
        retry = getattr(opt.storages, "RetryHeartbeatStaleTrialCallback", None)
        if retry is not None:  # optuna >= 5 names the callback for what it retries
            kwargs["heartbeat_stale_trial_callback"] = retry(max_retry=retries)
        else:
            kwargs["failed_trial_callback"] = opt.storages.RetryFailedTrialCallback(retries)
    engine = {}
    if url.startswith("sqlite"):
        path = url.partition(":///")[2]
        if path and path != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        # Workers share the file: wait for a lock rather than fail at once.
        engine = {"connect_args": {"timeout": 60}}
    return opt.storages.RDBStorage(url, engine_kwargs=engine, **kwargs)


def retried_from(trial) -> int | None:
    """The number of the trial that ``trial`` (a ``FrozenTrial``) re-runs (the last of a
    chain), or None."""
    opt = require_optuna()
    retry = getattr(opt.storages, "RetryHeartbeatStaleTrialCallback", None)
    retry = retry or opt.storages.RetryFailedTrialCallback
    with warnings.catch_warnings():  # "experimental" in Optuna
        warnings.simplefilter("ignore")
        history = retry.retry_history(trial)  # a crashed trial re-queued by the heartbeat
    if history:
        return int(history[-1])
    if "resume_of" in trial.user_attrs:  # a trial stopped by Ctrl-C, re-queued by simbarl tune
        return int(trial.user_attrs["resume_of"])
    return None
