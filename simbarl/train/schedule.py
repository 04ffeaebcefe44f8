"""When a run does what: one schedule of logs, evaluations, resets, probes and the pause.

Every event is set in env steps; it happens at the first loop iteration whose env
step count reaches it. An engine that advances several iterations at once (the
device loop's chunks) asks ``iterations_to_event`` how far it may go without
stepping over one, so every engine does each event where the host loop does.
"""

from __future__ import annotations

import dataclasses

from simbarl.config import TrainConfig


def crossed(now: int, steps: int, every: int) -> bool:
    """A multiple of ``every`` lies in ``(now - steps, now]`` (never for ``every`` 0)."""
    return bool(every) and now // every > (now - steps) // every


@dataclasses.dataclass(frozen=True)
class Due:
    """What the iterations that just ran, ending at env step ``now``, made due."""

    log: bool
    eval: bool
    reset: bool
    probe: bool
    pause: bool


@dataclasses.dataclass(frozen=True)
class Schedule:
    cfg: TrainConfig
    per_iter: int  # env steps per loop iteration
    start_step: int  # env step at which this process started (a pause is after it)

    def due(self, now: int, steps: int) -> Due:
        cfg = self.cfg
        at = lambda step: now - steps < step <= now
        reset = any(at(s) for s in cfg.reset_at) or crossed(now, steps, cfg.reset_every)
        pause = cfg.pause_at is not None and self.start_step < cfg.pause_at <= now
        return Due(
            log=crossed(now, steps, cfg.log_every),
            eval=crossed(now, steps, cfg.eval_every),
            reset=reset,
            probe=crossed(now, steps, cfg.analyze_every),
            pause=pause,
        )

    def iterations_to_event(self, env_step: int) -> int:
        """Iterations from ``env_step`` to the first one with an event (at least 1)."""
        cfg = self.cfg
        targets = [v for v in (cfg.pause_at, *cfg.reset_at) if v is not None and v > env_step]
        for every in (cfg.log_every, cfg.eval_every, cfg.reset_every, cfg.analyze_every):
            if every:
                targets.append((env_step // every + 1) * every)
        if not targets:
            return 1 << 62
        event_iteration = min(-(-t // self.per_iter) for t in targets)
        return max(event_iteration - env_step // self.per_iter, 1)
