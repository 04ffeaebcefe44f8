"""The training session: what every run does, written once.

A session opens its run (a new run directory, or a checked and locked resume),
its *seats* (one per ``--vmap-seeds`` seed: run directory, logger, counters) and
their learners and replay buffers; then it runs the schedule (``schedule.py``):
logs, evaluations with their checkpoints, network resets, dynamics probes, the
pause, ``--stop-at-return``, the NaN guard and stopping on Ctrl-C or SIGTERM.

An *engine* only advances the run and evaluates it: the host loop
(``online.py``) steps Gymnasium envs and calls the jitted step once per
iteration, the device loop (``device.py``) runs chunks of iterations in one
jitted ``lax.scan``, the offline engine (``offline/trainer.py``) runs chunks of
updates on a dataset (its clock counts updates). Every event happens at the
same env step in the host and the device engine, which is what
``tests/test_host_device_equal.py`` checks.
"""

from __future__ import annotations

import dataclasses
import time
from pathlib import Path

import numpy as np

from simbarl.config import TrainConfig
from simbarl.replay import init_replay
from simbarl.replay.memory import GIB, check_replay_fits, replay_bytes
from simbarl.runs import run_dir as rd
from simbarl.runs.learner import iterations_for, replay_capacity, warmup_iterations
from simbarl.runs.lock import RunLocks
from simbarl.runs.loop_state import load_loop, replay_meta
from simbarl.runs.metrics import Logger
from simbarl.train.callbacks import Callback, OnEval, callback_list
from simbarl.train.engine import Engine
from simbarl.train.probe import AheadProbe, make_probe_fn
from simbarl.train.progress import Progress
from simbarl.train.results import RunResult, gather_results, log_dynamics, log_train
from simbarl.train.schedule import Schedule
from simbarl.train.seeds import Seat, Seeds, seat_configs
from simbarl.train.stop import StopFlag
from simbarl.train.wandb_sink import WandbSink
from simbarl.train.warm_start import start


@dataclasses.dataclass
class Opened:
    """A session's learners and replay buffers, one per seat, before an engine takes them."""

    learners: list
    buffers: list
    capacity: int


class Session:
    """One run, or one ``--vmap-seeds`` group of runs, from open to result."""

    def __init__(
        self,
        cfg: TrainConfig,
        resume: str | Path | None,
        locks: RunLocks,
        callbacks: list[Callback] | None = None,
        on_eval: OnEval | None = None,
    ):
        cfg, self.task = rd.resolve(cfg)
        self.resume, self.locks = resume, locks
        self.group_dir = None
        if resume is not None:
            self.group_dir, cfg = rd.reopen(resume, cfg, locks.hold)
        self.cfg = cfg
        self.seeds = Seeds(cfg.vmap_seeds)
        self.iterations = iterations_for(cfg)
        self.per_iter = cfg.num_envs * cfg.action_repeat  # env steps per iteration
        self.warmup_iterations = warmup_iterations(cfg)
        # --wandb first: every row reaches W&B before a callback may stop the run
        self.wandb = WandbSink() if cfg.wandb else None
        backends = [self.wandb] if self.wandb is not None else []
        self.callbacks = callback_list(backends + list(callbacks or []), on_eval)
        self.stop_asked = False  # by a callback's on_log
        self.ended = False
        self.seats: list[Seat] = []
        self.probe_fn = None
        self.stop: StopFlag | None = None  # set by ``run``

    @property
    def fresh(self) -> bool:
        return self.resume is None

    @property
    def main(self):
        """The first seat's loop state: every seat's counters are the same."""
        return self.seats[0].loop

    @property
    def random_actions(self) -> bool:
        """Whether the next actions are uniform random (the warm-up of a new learner)."""
        return self.main.iteration < self.warmup_iterations and self.cfg.init_from is None

    def open(self, agent, dp=None) -> Opened:
        """Create or reopen every seat's run directory; fresh or loaded learners and replay.

        ``dp``: the device loop's ``sharding.DataParallel`` over several devices, which
        split each replay ring by rows (created split, never whole on one device)."""
        cfg, task = self.cfg, self.task
        capacity = replay_capacity(cfg)
        if not self.fresh:  # keep the ring's geometry even if --steps changed
            seat_cfgs = self._seat_configs()
            first = Path(seat_cfgs[0].run_dir) / rd.CHECKPOINT_FILE
            capacity = replay_meta(first, capacity, cfg.buffer_size)["replay_capacity"]
        r, dims = cfg.replay, (task.obs_dim, task.action_dim)
        if cfg.buffer_memory is not None and self.fresh:  # the budget itself, as asked
            advice = f"Lower --buffer-memory ({cfg.buffer_memory:g} GiB)"
            check_replay_fits(int(cfg.buffer_memory * GIB), advice=advice)
        devices = 1 if dp is None else dp.count
        if capacity % devices:
            raise ValueError(
                f"the replay's {capacity} slots must divide by the device count ({devices}) "
                "to be split evenly over the devices: change --buffer-size, or --devices"
            )
        rows = replay_bytes(capacity, *dims, r.obs_dtype)  # split; a sum tree is not
        tree = replay_bytes(capacity, *dims, r.obs_dtype, r.prioritized) - rows
        check_replay_fits(-(-rows // devices) + tree, copies=cfg.vmap_seeds)
        if self.fresh:  # nothing is written before the replay is known to fit
            if cfg.vmap_seeds > 1:
                self.group_dir = rd.create(cfg, self.locks.hold)
            seat_cfgs = self._seat_configs()
        learners, buffers = [], []
        for scfg in seat_cfgs:
            learner, loop = start(agent, cfg, scfg.seed, warm=self.fresh)
            new_replay = lambda: init_replay(capacity, *dims, r.prioritized, r.obs_dtype)
            buffer = new_replay() if dp is None else dp.init(new_replay, dp.replay)
            seat = self.add_seat(scfg, loop, logger=False)
            if not self.fresh:
                path = seat.run_dir / rd.CHECKPOINT_FILE
                learner, buffer, seat.loop = load_loop(path, learner, buffer, loop)
            self._attach_logger(seat, resumed=not self.fresh)
            learners.append(learner)
            buffers.append(buffer)
        return Opened(learners, buffers, capacity)

    def add_seat(
        self, scfg: TrainConfig, loop, logger: bool = True, files=None, resumable: bool = True
    ) -> Seat:
        """Seat ``scfg`` (one seed's config): its run directory, created (with ``files``,
        name: text) or reopened, locked, and its logger (``logger=False``: attached once a
        resume has loaded the loop state, whose step the logger cuts its rows at)."""
        hold = self.locks.hold
        if self.fresh:
            run_dir = rd.create(scfg, hold, files, resumable)
        else:
            run_dir = rd.reopen_seat(self.group_dir, scfg, self.cfg.vmap_seeds, hold)
        return self.seat_at(run_dir, scfg, loop, logger, resumed=not self.fresh)

    def seat_at(
        self, run_dir: Path, scfg: TrainConfig, loop, logger: bool = True, resumed: bool = False
    ) -> Seat:
        """Seat ``scfg`` in ``run_dir``, a run directory its caller has claimed and locked
        (``resumed``: the logger drops rows past ``loop.env_step``, redone from there)."""
        seat = Seat(dataclasses.replace(scfg, run_dir=str(run_dir)), run_dir, None, None, loop)
        if logger:
            self._attach_logger(seat, resumed)
        self.seats.append(seat)
        return seat

    def _attach_logger(self, seat: Seat, resumed: bool) -> None:
        resumed_at = seat.loop.env_step if resumed else None
        seat.logger = Logger(seat.run_dir, self.cfg.tensorboard, resumed_at)
        seat.on_row = self._on_row
        if self.wandb is not None:
            self.wandb.open(seat.cfg, seat.run_dir, self.group_dir)

    def _on_row(self, run_dir: Path, row: dict) -> None:
        """Every row a seat logs goes to the callbacks; one may ask the run to stop."""
        self.stop_asked |= self.callbacks.on_log(run_dir, row)

    def _seat_configs(self) -> list[TrainConfig]:
        """One config per seed, in the group directory or the run's own (called once:
        the default run directory carries the time)."""
        cfg = self.cfg
        return seat_configs(cfg, self.group_dir or Path(cfg.run_dir or rd.default_run_dir(cfg)))

    # -- the run ---------------------------------------------------------------

    def run(self, engine: Engine, stop: StopFlag | None = None) -> RunResult:
        """Advance ``engine`` through the schedule to the budget, a stop or the pause.

        ``stop``: the caller's ``StopFlag``, installed before start-up (``train``);
        without one the session installs its own now. A failed write (a full disk) is
        raised as ``RunWriteError``, naming the run. However the run ends, its files are
        closed and the callbacks' ``on_end`` called."""
        try:
            if stop is not None:
                result = self._run(engine, stop)
            else:
                with StopFlag() as own:
                    result = self._run(engine, own)
            self.close()
            return result
        except OSError as e:
            self.close(quiet=True)
            if isinstance(e, rd.RunWriteError):
                raise
            raise rd.RunWriteError(self.group_dir or self.seats[0].run_dir, e) from e
        except BaseException:
            self.close(quiet=True)
            raise

    def close(self, quiet: bool = False) -> None:
        """Close every seat's logger (``quiet``: after another error, whose report a
        failure closing ``metrics.jsonl`` would hide), then call ``on_end`` once."""
        for seat in self.seats:
            if seat.logger is not None:
                seat.logger.close(quiet)
        if not self.ended:
            self.ended = True
            for seat in self.seats:
                self.callbacks.on_end(seat.run_dir)

    def _run(self, engine: Engine, stop: StopFlag) -> RunResult:
        cfg, main, per_iter = self.cfg, self.main, self.per_iter
        self.stop, stop.running = stop, True  # from here a first signal checkpoints
        schedule = Schedule(cfg, per_iter, main.env_step)
        self.progress = Progress(cfg.steps, main.env_step, cfg.progress, engine.progress_unit)
        if engine.start_line and self.progress.mode != "off":
            self.progress.write(engine.start_line)
        # None without --analyze-every; compiled in the background from the first log
        self.probe_fn = probe_fn = make_probe_fn(
            engine.agent, cfg, cfg.vmap_seeds, engine.probe_layout
        )
        for seat in self.seats:
            seat.last_log = (time.time(), main.env_step, engine.updates())
        interrupted = False
        if self.fresh and cfg.init_from is not None:
            self.evaluate_and_checkpoint(engine)  # env step 0: the loaded policy
        while main.iteration < self.iterations:
            left = self.iterations - main.iteration
            n = engine.advance(min(left, schedule.iterations_to_event(main.env_step)))
            self._count(n, per_iter)
            due = schedule.due(main.env_step, n * per_iter)
            if due.reset:
                engine.reset_networks()
                self.log_all({"train/reset": 1.0})
            final = main.iteration >= self.iterations
            if engine.logs_training and (due.log or (final and engine.log_at_end)):
                self.log_training(engine)
            if probe_fn and due.probe and main.iteration >= self.warmup_iterations:
                log_dynamics(self.seats, self.seeds, probe_fn, *engine.probe_inputs())
            if (due.eval or final) and self.evaluate_and_checkpoint(engine):
                break  # --stop-at-return or a callback; the evaluation checkpointed
            if (stop.requested or self.stop_asked or due.pause) and not final:
                if engine.on_stop == "evaluate":
                    self.evaluate_and_checkpoint(engine)
                elif engine.on_stop == "checkpoint":
                    self.checkpoint(engine)
                interrupted = True
                break
        self.progress.close()
        return gather_results(self.seats, self.seeds, self.group_dir, main.env_step, interrupted)

    def _count(self, iterations: int, per_iter: int) -> None:
        for seat in self.seats:
            seat.loop.iteration += iterations
            seat.loop.agent_step += iterations * self.cfg.num_envs
            seat.loop.env_step += iterations * per_iter
        self.progress.advance(iterations * per_iter)

    def log_all(self, values: dict) -> None:
        for seat in self.seats:
            seat.log({"env_step": self.main.env_step, **values})

    def log_training(self, engine: Engine) -> None:
        """A training row per seat (after the NaN guard); callbacks see each row."""
        engine.collect_returns()
        for k, seat in enumerate(self.seats):
            metrics = engine.guard(self, k)
            log_train(seat, self.progress, metrics, engine.updates())
            seat.recent_returns = []
        self.progress.logged()
        if isinstance(self.probe_fn, AheadProbe):  # the loop runs its compiled step by now
            self.probe_fn.start()

    def checkpoint(self, engine: Engine, guarded: bool = False) -> None:
        """Write each seat's checkpoint (not with ``--no-checkpoint``), after the NaN guard
        (``guarded``: the caller has just run it)."""
        if not self.cfg.checkpoint:
            return
        for k, seat in enumerate(self.seats):
            if not guarded:
                engine.guard(self, k)
            with self.stop.writing():  # a second signal lets the write end first
                engine.save(k, seat.run_dir / rd.CHECKPOINT_FILE, seat.loop)
            self.callbacks.on_checkpoint(seat.run_dir, seat.loop.env_step)

    def evaluate_and_checkpoint(self, engine: Engine) -> bool:
        """Evaluate, log and checkpoint every seat; True when the run should stop here.

        The NaN guard comes first: a diverged learner is neither evaluated nor saved."""
        for k in range(len(self.seats)):
            engine.guard(self, k)
        for seat, result in zip(self.seats, engine.evaluate(), strict=True):
            engine.record(seat, result)
        self.checkpoint(engine, guarded=True)
        mean = float(np.mean([s.eval_returns[-1][1] for s in self.seats]))
        self.progress.set_eval(mean, line=engine.eval_lines)
        if self.callbacks.on_eval(self.main.env_step, mean):
            return True
        return self.cfg.stop_at_return is not None and mean >= self.cfg.stop_at_return
