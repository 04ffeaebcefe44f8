"""evolve's population as an engine of the training session (``train/session.py``).

The session runs the schedule as it does for ``simbarl train``: its clock counts
population steps (every member steps its envs once, ``loop.population_step``),
an *evaluation* ends a generation (fitness, the generation's rows, the elite as
``RUN/best``, selection and mutation) and is followed by the population's
checkpoint; ``--pause-after`` is the session's pause, and Ctrl-C or SIGTERM
abandons the generation in flight, keeping the last checkpoint. On device tasks
``DevicePopulationEngine`` advances the generation in scanned chunks
(``device_loop.py``) instead of one population step at a time.
"""

from __future__ import annotations

import dataclasses
import math
import time
from pathlib import Path

import jax
import numpy as np

from simbarl.evolve import checkpoint as ckpt
from simbarl.evolve import loop
from simbarl.evolve import mutations as mut
from simbarl.evolve.device_loop import DevicePopulation, group_metrics, hypers
from simbarl.evolve.population import Mutator, next_generation
from simbarl.evolve.rows import PopulationLog, population_rows
from simbarl.evolve.spec import EvolveSpec, selection_score
from simbarl.evolve.tournament import elite, select_parents
from simbarl.runs.finite import NonFiniteError
from simbarl.train.engine import Engine
from simbarl.train.seeds import Seat
from simbarl.train.session import Session


@dataclasses.dataclass
class Generation:
    """What the end of a generation logs: its metrics row and the best fitness."""

    row: dict
    best: float
    summary: str


class PopulationEngine(Engine):
    """A population (``loop.Population``) advanced one population step at a time."""

    logs_training = False  # a row per generation, at its end
    eval_lines = False  # its summary line per generation says more
    on_stop = "abandon"  # the population is checkpointed between generations only

    def __init__(
        self,
        session: Session,
        pop: loop.Population,
        spec: EvolveSpec,
        rng: np.random.Generator,
        log: PopulationLog,
    ):
        cfg = pop.cfg
        self.session, self.pop, self.spec, self.rng, self.log = session, pop, spec, rng, log
        self.generation_iterations = spec.evo_steps // (cfg.num_envs * cfg.action_repeat)
        self.mutator = Mutator(
            pop.programs.obs_dim, pop.programs.action_dim, dict(spec.ranges), spec.arch
        )
        self.agent = pop.programs(cfg).agent
        self.bests: list[float] = []  # per generation ended by this engine
        self.started = None  # wall time the generation in flight started

    def advance(self, limit: int) -> int:
        pop = self.pop
        if self.started is None:
            self.started = time.time()
            loop.start_generation(pop)
        loop.population_step(pop)
        if pop.iteration == (pop.generation + 1) * self.generation_iterations:
            loop.finish_generation(pop)
        return 1

    def updates(self) -> int:
        return self.pop.iteration

    def guard(self, session, k: int):
        """A diverged member ranks last and acts at random (``loop``); only a population
        that diverged whole stops the run (``evaluate``)."""
        return {}

    def evaluate(self) -> list[Generation]:
        """End the generation: fitness, rows, ``RUN/best``, and the next generation."""
        pop, spec = self.pop, self.spec
        seconds, self.started = time.time() - self.started, None
        run_dir = self.session.seats[0].run_dir
        returns = self.fitness()
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
        self.log.write(population_rows(pop, generation, scores, returns, best, lineage, env_step))
        finite = [s for s in scores if not math.isnan(s)]
        row = {
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
        ckpt.write_best(run_dir, pop, best, lineage)
        self._next_generation(scores)
        self.bests.append(float(scores[best]))
        return [Generation(row, float(scores[best]), _summary(pop, spec, float(scores[best])))]

    def fitness(self) -> list[float]:
        """Each member's fitness evaluation of this generation (NaN: diverged)."""
        return loop.fitness(self.pop, self.spec.fitness_episodes)

    def _next_generation(self, scores: list[float]) -> None:
        """Tournament selection with elitism, one mutation per offspring; each new member
        draws its own RNG stream (its parent's sampling and exploration keys are not
        shared with a copy)."""
        pop, spec, rng = self.pop, self.spec, self.rng
        parents = select_parents(scores, rng, spec.tournament_size)
        kinds = mut.choose_kinds(spec.population, spec.mutation_probs, rng, spec.mutate_elite)
        new = next_generation(pop.members, parents, kinds, self.mutator, rng, pop.next_id)
        for m in new:
            if m.id >= pop.next_id:
                key = jax.random.fold_in(jax.random.PRNGKey(pop.cfg.seed), m.id)
                m.state = m.state.replace(key=key)
        pop.next_id = max(pop.next_id, max(m.id for m in new) + 1)
        pop.members = new
        pop.generation += 1

    def record(self, seat: Seat, result: Generation) -> None:
        seat.log(result.row)
        seat.eval_returns.append((seat.loop.env_step, result.best))
        self.session.progress.write(result.summary)

    def save(self, k: int, path: Path, loop_state) -> None:
        ckpt.save_population(path, self.pop, self.rng)


class DevicePopulationEngine(PopulationEngine):
    """The population in the device loop (``device_loop.py``): a generation runs as
    chunks of scanned population steps, split only where learning starts; the host
    ends generations, evaluates, selects and checkpoints as for host tasks."""

    def __init__(self, session, pop, spec, rng, log, device: DevicePopulation):
        super().__init__(session, pop, spec, rng, log)
        self.device, self.carry, self.step = device, None, None

    def advance(self, limit: int) -> int:
        pop = self.pop
        if self.started is None:
            self.started = time.time()
            random = pop.iteration < pop.warmup_iters and pop.cfg.init_from is None
            self.carry, self.step = self.device.start(pop, random)
        end = (pop.generation + 1) * self.generation_iterations
        quiet = max(pop.warmup_iters - 1, 0)  # step i learns once i + 1 >= warm-up
        learn = pop.iteration >= quiet
        n = min(limit, end - pop.iteration)
        if not learn:
            n = min(n, quiet - pop.iteration)
        self.carry, metrics = self.step.chunk(
            self.carry, hypers(pop), pop.dataset, n, length=self.generation_iterations, learn=learn
        )
        group_metrics(pop, metrics)
        pop.iteration += n
        if pop.iteration == end:
            self.device.finish(pop, self.carry)
            self.carry = self.step = None
        return n

    def fitness(self) -> list[float]:
        return self.device.fitness(self.pop, self.spec.fitness_episodes)


def _summary(pop: loop.Population, spec: EvolveSpec, best: float) -> str:
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
