"""``evolve``: evolutionary population training on one shared replay buffer.

A generation is ``evo_steps`` env steps per member, learning as ``simbarl
train`` does (``loop.py`` on the host, ``device_loop.py`` for ``mjx:``, ``brax:``
and ``jax:`` tasks), then a fitness evaluation; selection is a
tournament with elitism (``tournament.py``) and each offspring takes one
mutation (``population.py``). The population is an engine of the training
session (``engine.py``), which runs the schedule, the pause and the stop.
After every generation the run directory gets a ``population.jsonl`` row per
member, a ``metrics.jsonl`` row, the elite as ``RUN/best`` (a normal run
directory) with ``RUN/best_config.json``, and an atomic checkpoint of the whole
population, from which ``resume_evolve`` continues exactly. Ctrl-C or SIGTERM
abandons the generation in flight and keeps the last checkpoint.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import jax
import numpy as np

from simbarl.config import TrainConfig
from simbarl.envs.device_tasks import is_device_task
from simbarl.envs.registry import resolve_task
from simbarl.evolve import checkpoint as ckpt
from simbarl.evolve import loop
from simbarl.evolve.device_loop import DevicePopulation, device_slots
from simbarl.evolve.engine import DevicePopulationEngine, PopulationEngine
from simbarl.evolve.groups import GroupPrograms
from simbarl.evolve.population import Member
from simbarl.evolve.rows import POPULATION_FILE, PopulationLog
from simbarl.evolve.spec import EvolveSpec, check_evolve, read_spec, write_spec
from simbarl.replay import init_replay
from simbarl.replay.memory import check_replay_fits, replay_bytes
from simbarl.runs import run_dir as rd
from simbarl.runs.lock import RunLocks
from simbarl.runs.loop_state import LoopState
from simbarl.train.session import Session
from simbarl.train.wandb_sink import require_wandb
from simbarl.train.warm_start import dataset_buffer, start


@dataclasses.dataclass
class EvolveResult:
    run_dir: Path
    generation: int  # generations done
    best_fitness: list[float]  # per generation run by this call
    interrupted: bool = False


def evolve(cfg: TrainConfig, spec: EvolveSpec) -> EvolveResult:
    """Evolve a population whose members all start from ``cfg`` in ``cfg.run_dir``."""
    cfg = check_evolve(spec, cfg)
    if cfg.wandb:
        require_wandb()  # at the door, before the run directory is written
    with RunLocks() as locks:
        run_dir = _create(cfg, locks)
        cfg = dataclasses.replace(cfg, run_dir=str(run_dir))
        write_spec(run_dir, spec, cfg)
        return _run(cfg, spec, run_dir, False, locks)


def resume_evolve(
    run_dir: str | Path,
    generations: int | None = None,
    pause_after: int | None = None,
    progress: str | bool | None = None,
) -> EvolveResult:
    """Continue an evolve run from its checkpoint; ``generations`` may raise its budget
    (the members' learning-rate decay then spans the new one)."""
    run_dir = Path(run_dir)
    with RunLocks() as locks:
        locks.hold(run_dir)
        spec, cfg = read_spec(run_dir)
        if not (run_dir / rd.CHECKPOINT_FILE).is_file():
            raise ValueError(f"{run_dir} has no {rd.CHECKPOINT_FILE} to resume from")
        done = ckpt.read_population_meta(run_dir / rd.CHECKPOINT_FILE)["generation"]
        if generations is not None and generations < done:
            raise ValueError(f"{run_dir} has done {done} generations; --generations {generations}")
        spec = dataclasses.replace(
            spec, generations=generations or spec.generations, pause_after=pause_after
        )
        if progress is not None:
            cfg = dataclasses.replace(cfg, progress=progress)
        cfg = check_evolve(spec, cfg)
        write_spec(run_dir, spec, cfg)
        return _run(cfg, spec, run_dir, True, locks)


def _create(cfg: TrainConfig, locks: RunLocks) -> Path:
    """A fresh, locked run directory (refusing one that holds files)."""
    if cfg.run_dir:
        run_dir = Path(cfg.run_dir)
    else:
        default = rd.default_run_dir(cfg)
        run_dir = default.with_name(f"evolve-{default.name}")
    return rd.claim(run_dir, locks.hold, _occupied)


def _occupied(run_dir: Path) -> str:
    return (
        f"run directory {run_dir} already holds files; continue an evolve run with "
        f"simbarl evolve --resume {run_dir}, or choose another --run-dir"
    )


def _new_population(cfg: TrainConfig, spec: EvolveSpec, capacity: int | None) -> loop.Population:
    """Member ``k`` starts from ``cfg`` seeded ``seed + k`` (or ``--init-from``'s weights)."""
    task = resolve_task(cfg.env)
    obs_dim, action_dim = task.obs_dim, task.action_dim
    stride = spec.population * cfg.num_envs
    vmap = spec.vmap == "on" or (spec.vmap == "auto" and jax.default_backend() != "cpu")
    programs = GroupPrograms(obs_dim, action_dim, stride, vmap=vmap)
    agent = programs(cfg).agent
    members, stats = [], None
    for k in range(spec.population):
        learner, first = start(agent, cfg, cfg.seed + k, warm=True)
        members.append(Member(id=k, cfg=cfg, state=learner, mutation="none (initial)"))
        stats = stats or first
    if capacity is None:
        transitions = spec.generations * spec.evo_steps // cfg.action_repeat * spec.population
        capacity = min(cfg.buffer_size, transitions)
    r = cfg.replay
    check_replay_fits(replay_bytes(capacity, obs_dim, action_dim, r.obs_dtype, r.prioritized))
    scaler = stats.reward_scaler.replace(returns=np.zeros(stride))
    make_slots = device_slots if is_device_task(cfg.env) else loop.make_slots
    return loop.Population(
        cfg=cfg,
        members=members,
        slots=make_slots(cfg, spec.population, obs_dim, action_dim),
        buffer=init_replay(capacity, obs_dim, action_dim, r.prioritized, r.obs_dtype),
        obs_stats=stats.obs_stats,
        reward_scaler=scaler,
        programs=programs,
        dataset=dataset_buffer(cfg, obs_dim, action_dim),
        next_id=spec.population,
    )


def _run(
    cfg: TrainConfig, spec: EvolveSpec, run_dir: Path, resume: bool, locks: RunLocks
) -> EvolveResult:
    path = run_dir / rd.CHECKPOINT_FILE
    capacity = ckpt.read_population_meta(path)["replay_capacity"] if resume else None
    pop = _new_population(cfg, spec, capacity)
    rng = np.random.default_rng(cfg.seed)
    if resume:
        rng = ckpt.load_population(path, pop)
        _set_budget(pop, cfg)
    elif cfg.checkpoint:
        ckpt.save_population(path, pop, rng)  # generation 0: resumable from the start
    session = Session(_schedule(cfg, spec), None, locks)
    session.iterations = spec.generations * (spec.evo_steps // (cfg.num_envs * cfg.action_repeat))
    session.per_iter = spec.population * cfg.num_envs * cfg.action_repeat
    counters = LoopState.fresh(0, 0, 0)
    counters.iteration, counters.env_step = pop.iteration, ckpt.total_env_steps(pop)
    counters.agent_step, counters.eval_round = pop.iteration * pop.envs, pop.generation
    session.seat_at(run_dir, cfg, counters, resumed=resume)
    log = PopulationLog(run_dir / POPULATION_FILE, pop.generation if resume else None)
    if is_device_task(cfg.env):
        device = DevicePopulation(cfg, pop.programs, spec.population, spec.fitness_episodes)
        engine = DevicePopulationEngine(session, pop, spec, rng, log, device)
    else:
        engine = PopulationEngine(session, pop, spec, rng, log)
    result = session.run(engine)
    return EvolveResult(run_dir, pop.generation, engine.bests, result.interrupted)


def _schedule(cfg: TrainConfig, spec: EvolveSpec) -> TrainConfig:
    """The session's view of an evolve run: env steps of the whole population, an
    evaluation (a generation's end) every generation, the pause after ``--pause-after``,
    and no dynamics probe (evolve's rows are per generation; ``--analyze-every`` is
    not used)."""
    generation = spec.population * spec.evo_steps
    pause = spec.pause_after
    return dataclasses.replace(
        cfg,
        steps=spec.generations * generation,
        eval_every=generation,
        log_every=generation,
        pause_at=pause * generation if pause else None,
        init_from=None,  # the members start from it; there is no step-0 evaluation
        analyze_every=0,
    )


def _set_budget(pop: loop.Population, cfg: TrainConfig) -> None:
    """A resume with another --generations: every member's decay spans the new budget."""
    for m in pop.members:
        if m.cfg.steps != cfg.steps:
            m.cfg = dataclasses.replace(m.cfg, steps=cfg.steps)
