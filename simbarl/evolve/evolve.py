"""``evolve``: evolutionary population training on one shared replay buffer (host loop).

A generation is ``evo_steps`` env steps per member, learning as ``simbarl
train`` does (``loop.py``), then a fitness evaluation; selection is a
tournament with elitism (``tournament.py``) and each offspring takes one
mutation (``population.py``). After every generation the run directory gets a
``population.jsonl`` row per member, a ``metrics.jsonl`` row, the elite as
``RUN/best`` (a normal run directory) with ``RUN/best_config.json``, and an
atomic checkpoint of the whole population, from which ``resume_evolve``
continues exactly. Ctrl-C or SIGTERM abandons the generation in flight and keeps
the last checkpoint.
"""

from __future__ import annotations

import dataclasses
import math
import time
from pathlib import Path

import jax
import numpy as np

from simbarl.config import TrainConfig
from simbarl.envs.registry import resolve_task
from simbarl.evolve import checkpoint as ckpt
from simbarl.evolve import loop
from simbarl.evolve import mutations as mut
from simbarl.evolve.groups import GroupPrograms
from simbarl.evolve.population import Member, Mutator, next_generation
from simbarl.evolve.rows import POPULATION_FILE, PopulationLog, population_rows
from simbarl.evolve.spec import (
    EvolveSpec,
    check_evolve,
    read_spec,
    selection_score,
    write_spec,
)
from simbarl.evolve.tournament import elite, select_parents
from simbarl.replay import init_replay
from simbarl.replay.memory import check_replay_fits, replay_bytes
from simbarl.runs import run_dir as rd
from simbarl.runs.finite import NonFiniteError
from simbarl.runs.lock import RunLocks
from simbarl.runs.metrics import Logger
from simbarl.train.progress import Progress
from simbarl.train.stop import StopFlag
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
    with RunLocks() as locks:
        run_dir = _create(cfg, locks)
        cfg = dataclasses.replace(cfg, run_dir=str(run_dir))
        write_spec(run_dir, spec, cfg)
        return _run(cfg, spec, run_dir, resume=False)


def resume_evolve(
    run_dir: str | Path,
    generations: int | None = None,
    pause_after: int | None = None,
    progress: bool | None = None,
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
        return _run(cfg, spec, run_dir, resume=True)


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
    return loop.Population(
        cfg=cfg,
        members=members,
        slots=loop.make_slots(cfg, spec.population, obs_dim, action_dim),
        buffer=init_replay(capacity, obs_dim, action_dim, r.prioritized, r.obs_dtype),
        obs_stats=stats.obs_stats,
        reward_scaler=scaler,
        programs=programs,
        dataset=dataset_buffer(cfg, obs_dim, action_dim),
        next_id=spec.population,
    )


def _run(cfg: TrainConfig, spec: EvolveSpec, run_dir: Path, resume: bool) -> EvolveResult:
    path = run_dir / rd.CHECKPOINT_FILE
    capacity = ckpt.read_population_meta(path)["replay_capacity"] if resume else None
    pop = _new_population(cfg, spec, capacity)
    rng = np.random.default_rng(cfg.seed)
    if resume:
        rng = ckpt.load_population(path, pop)
        _set_budget(pop, cfg)
    elif cfg.checkpoint:
        ckpt.save_population(path, pop, rng)  # generation 0: resumable from the start
    env_step = ckpt.total_env_steps(pop)
    log = PopulationLog(run_dir / POPULATION_FILE, pop.generation if resume else None)
    logger = Logger(run_dir, cfg.tensorboard, env_step if resume else None)
    mutator = Mutator(pop.programs.obs_dim, pop.programs.action_dim, dict(spec.ranges), spec.arch)
    per_generation = spec.population * spec.evo_steps
    iterations = spec.evo_steps // (cfg.num_envs * cfg.action_repeat)
    progress = Progress(spec.generations * per_generation, env_step, enabled=cfg.progress)
    bests, interrupted, first = [], False, pop.generation
    try:
        with StopFlag() as stop:
            while pop.generation < spec.generations:
                t0 = time.time()
                loop.start_generation(pop)
                for _ in range(iterations):
                    if stop.requested:
                        break
                    loop.population_step(pop)
                    progress.advance(spec.population * cfg.num_envs * cfg.action_repeat)
                loop.finish_generation(pop)
                if stop.requested:  # the generation in flight is abandoned
                    interrupted = True
                    break
                best = _end_generation(pop, spec, run_dir, log, logger, time.time() - t0)
                bests.append(best)
                parents = select_parents(
                    [selection_score(m.fitness, spec) for m in pop.members],
                    rng,
                    spec.tournament_size,
                )
                kinds = mut.choose_kinds(
                    spec.population, spec.mutation_probs, rng, spec.mutate_elite
                )
                _next(pop, parents, kinds, mutator, rng)
                if cfg.checkpoint:
                    ckpt.save_population(path, pop, rng)
                progress.set_eval(best)
                progress.write(_summary(pop, spec, best))
                pause = spec.pause_after
                if pause is not None and first < pause <= pop.generation < spec.generations:
                    interrupted = True
                    break
    finally:
        progress.close()
        logger.close()
    return EvolveResult(run_dir, pop.generation, bests, interrupted)


def _set_budget(pop: loop.Population, cfg: TrainConfig) -> None:
    """A resume with another --generations: every member's decay spans the new budget."""
    for m in pop.members:
        if m.cfg.steps != cfg.steps:
            m.cfg = dataclasses.replace(m.cfg, steps=cfg.steps)


def _end_generation(pop, spec, run_dir, log, logger, seconds: float) -> float:
    """Fitness, rows, and the elite saved as ``RUN/best``; returns the best fitness."""
    returns = loop.fitness(pop, spec.fitness_episodes)
    for m, f in zip(pop.members, returns, strict=True):
        m.fitness.append(f)
    scores = [selection_score(m.fitness, spec) for m in pop.members]
    if all(math.isnan(s) for s in scores):
        raise NonFiniteError(
            f"every member of generation {pop.generation + 1} diverged (NaN or inf); "
            f"{run_dir} keeps its last checkpoint. Lower the learning rate or narrow its "
            "mutation range (--space)"
        )
    best = elite(scores)
    generation, lineage = pop.generation + 1, (pop.generation + 1) * spec.evo_steps
    env_step = ckpt.total_env_steps(pop)
    log.write(population_rows(pop, generation, scores, returns, best, lineage, env_step))
    finite = [s for s in scores if not math.isnan(s)]
    logger.log(
        {
            "env_step": env_step,
            "generation": generation,
            "evolve/best_fitness": scores[best],
            "evolve/mean_fitness": float(np.mean(finite)),
            "evolve/best_return": float(np.nanmax(returns)),
            "evolve/mean_return": float(np.nanmean(returns)),
            "evolve/diverged": len(scores) - len(finite),
            "perf/generation_s": seconds,
            "perf/env_steps_per_s": spec.population * spec.evo_steps / max(seconds, 1e-9),
        }
    )
    ckpt.write_best(run_dir, pop, best, lineage)
    return float(scores[best])


def _next(pop, parents, kinds, mutator, rng) -> None:
    """The next generation; each new member draws its own RNG stream (its parent's
    sampling and exploration keys are not shared with a copy)."""
    new = next_generation(pop.members, parents, kinds, mutator, rng, pop.next_id)
    for m in new:
        if m.id >= pop.next_id:
            key = jax.random.fold_in(jax.random.PRNGKey(pop.cfg.seed), m.id)
            m.state = m.state.replace(key=key)
    pop.next_id = max(pop.next_id, max(m.id for m in new) + 1)
    pop.members = new
    pop.generation += 1


def _summary(pop, spec, best: float) -> str:
    """A line per generation; ``pop`` is already the next generation."""
    line = (
        f"generation {pop.generation}/{spec.generations}: best fitness {best:.1f}, "
        f"{ckpt.total_env_steps(pop):,} env steps"
    )
    if pop.generation == spec.generations:
        return line
    made = [m.mutation.split(":")[0] for m in pop.members]
    kinds = ", ".join(f"{made.count(k)} {k}" for k in ("arch", "params", "hp") if k in made)
    return f"{line}; next generation: {kinds or 'no mutations'}"
