"""What an engine gives the training session (``session.py``): it advances the run and
evaluates it; the session does everything else.

The engines: the host loop (``online.py``), the device loop (``device.py``), the
offline trainer (``offline/trainer.py``) and evolve's population
(``evolve/engine.py``). The defaults here serve runs of seats with one learner
each; an engine overrides what its run does differently (a population's
checkpoint, its NaN handling, what a stop does).
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import numpy as np

from simbarl.runs.finite import check_finite
from simbarl.runs.loop_state import save_loop
from simbarl.train.evaluate import EvalResult
from simbarl.train.seeds import Seat


def restart_warning(run_dir, env_id: str, episodes: int) -> None:
    """One line saying a resume restarts episodes: the checkpoint holds no env state."""
    print(
        f"simbarl: resuming {run_dir}: its checkpoint holds no state of the {env_id} envs "
        f"(this suite's cannot be saved, or an older simbarl wrote it); {episodes} "
        "episode(s) in flight restart, so the run no longer repeats an uninterrupted one",
        file=sys.stderr,
    )


class Engine:
    """How a loop advances a session and evaluates it; the session does the rest.

    ``learner`` and ``metrics`` are seed-stacked (``metrics`` is ``{}`` before the
    first update)."""

    agent: Any  # the ActorCritic the learners belong to
    learner: Any
    metrics: Any
    logs_training = True  # training rows every log_every env steps
    log_at_end = False  # a training row at the end of the budget, on a log boundary or not
    # What a stop (Ctrl-C, SIGTERM, the pause, a callback) does before the run returns:
    # "checkpoint" (resumable runs), "evaluate" and checkpoint (runs that cannot resume),
    # or "abandon" the work since the last checkpoint (a population's generation in flight).
    on_stop = "checkpoint"
    progress_unit = "env step"  # what the run's clock counts, in its progress lines
    eval_lines = True  # plain progress: a line per evaluation (evolve writes its own)
    start_line: str | None = None  # a progress line at the start: how this run runs
    # The probe inputs' shardings, ``(learner, replay, norm)`` shapes -> the same with
    # shardings, when the engine splits them over several devices; else None.
    probe_layout = None

    def advance(self, limit: int) -> int:
        """Run at most ``limit`` (>= 1) iterations; return how many ran."""
        raise NotImplementedError

    def evaluate(self) -> list[EvalResult]:
        """One evaluation per seat, of the current policy."""
        raise NotImplementedError

    def snapshot(self, k: int) -> tuple[Any, Any, np.ndarray]:
        """Seat ``k``'s ``(learner, replay, next action)``, its loop state brought up to date."""
        raise NotImplementedError

    def env_snapshot(self, k: int):
        """Seat ``k``'s envs' state as ``(tree, info)`` for its checkpoint, or None
        (a resume then restarts the episodes in flight)."""
        return None

    def collect_returns(self) -> None:
        """Put the returns of the episodes ended since the last log in ``seat.recent_returns``."""

    def reset_networks(self) -> None:
        raise NotImplementedError

    def probe_inputs(self) -> tuple:
        """``(learner, replay, normalization)``, seed-stacked, for the dynamics probe."""
        raise NotImplementedError

    def updates(self) -> int:
        """Updates made so far (of one seed)."""
        return int(np.asarray(self.learner.step).reshape(-1)[0])

    def guard(self, session, k: int):
        """The NaN guard on seat ``k`` of ``session`` (the ``Session``): its learner and
        latest metrics; returns the metrics."""
        seeds = session.seeds
        metrics = seeds.take(self.metrics, k)
        check_finite(seeds.take(self.learner, k), metrics, session.cfg, session.seats[k].run_dir)
        return metrics

    def save(self, k: int, path: Path, loop) -> None:
        """Write seat ``k``'s checkpoint to ``path`` (``loop``: its loop state), with its
        envs' state where the engine can take it (``env_snapshot``)."""
        learner, buffer, action = self.snapshot(k)
        save_loop(path, learner, buffer, loop, action, self.env_snapshot(k))

    def record(self, seat: Seat, result) -> None:
        """Log seat's evaluation ``result`` (one of ``evaluate()``'s) in its metrics."""
        seat.record_eval(result)
