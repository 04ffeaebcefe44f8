"""What an evolutionary search is asked to do, checked at the door and kept in ``RUN/evolve.json``.

``EvolveSpec`` holds the search's own settings (population, generations,
selection, mutation); the starting config of every member is a ``TrainConfig``
made from the ``simbarl train`` flags. ``check_evolve`` refuses everything that
cannot run before an environment is built or a directory written.
"""

from __future__ import annotations

import dataclasses
import json
import math
from pathlib import Path

from simbarl.config import TrainConfig, config_from_dict, config_to_dict
from simbarl.evolve import mutations as mut
from simbarl.evolve.tournament import check_selection
from simbarl.runs import run_dir as rd
from simbarl.search_space import SearchSpace, load_space

SPEC_FILE = "evolve.json"
FITNESS = ("last", "mean-last-k")
VMAP = ("auto", "on", "off")
ARCH_NAMES = ("agent.actor.width", "agent.actor.num_blocks")
ARCH_NAMES += ("agent.critic.width", "agent.critic.num_blocks")


@dataclasses.dataclass(frozen=True)
class EvolveSpec:
    """The search's settings; every member's starting config is the run's ``TrainConfig``."""

    population: int = 8
    generations: int = 10
    evo_steps: int = 10_000
    """Env steps per member and generation (action repeat included, as --steps)."""
    fitness: str = "last"
    """``last``: this generation's evaluation; ``mean-last-k``: the mean of the last
    ``fitness_k`` generations' evaluations of the member and its ancestors."""
    fitness_k: int = 3
    fitness_episodes: int = 5
    tournament_size: int = 2
    mutation_probs: dict = dataclasses.field(default_factory=lambda: dict(mut.DEFAULT_PROBS))
    mutate_elite: bool = False
    ranges: dict = dataclasses.field(default_factory=lambda: dict(mut.DEFAULT_RANGES))
    """Hyperparameter -> (low, high): the range an ``hp`` mutation clips to."""
    arch: mut.ArchBounds = mut.ArchBounds()
    vmap: str = "auto"
    """``on``: members of one shape train as one vmapped learner (``evolve.groups``);
    ``off``: one call per member, the same updates; ``auto``: ``on`` on an accelerator,
    ``off`` on a CPU (where XLA's batched matmuls measured no faster than single ones)."""
    pause_after: int | None = None
    """Stop (checkpointed) after this generation; not part of the run: a resume may change it."""

    def to_dict(self) -> dict:
        d = dataclasses.asdict(self)
        d["ranges"] = {k: list(v) for k, v in self.ranges.items()}
        d["arch"]["width_steps"] = list(self.arch.width_steps)
        d.pop("pause_after")
        return d

    @classmethod
    def from_dict(cls, d: dict) -> EvolveSpec:
        d = dict(d)
        d["ranges"] = {k: tuple(v) for k, v in d["ranges"].items()}
        arch = dict(d["arch"])
        arch["width_steps"] = tuple(arch["width_steps"])
        d["arch"] = mut.ArchBounds(**arch)
        return cls(**d)


def ranges_from_space(space: SearchSpace) -> dict[str, tuple[float, float]]:
    """Mutation ranges from a ``simbarl tune`` search space (``simbarl/search_space.py``).

    Evolution scales a value by 0.8 or 1.2 and clips it to ``[low, high]``, so
    every entry needs a range: choices cannot be scaled, and a ``step`` grid
    cannot be kept. (``log`` is accepted: a multiplicative step is already even
    on a log scale.) Architecture fields are mutated within ``--arch-blocks`` and
    ``--arch-widths``, not ranges.
    """
    problems, ranges = [], {}
    for p in space.params:
        if p.name in ARCH_NAMES:
            problems.append(
                f"{p.name}: architecture mutations use --arch-blocks MIN:MAX and "
                "--arch-widths MIN:MAX, not the search space"
            )
        elif p.type == "categorical":
            problems.append(
                f"{p.name}: a categorical parameter (choices {list(p.choices)}) cannot be "
                "scaled by 0.8/1.2; give it a low/high range or leave it out"
            )
        elif p.step is not None:
            problems.append(f"{p.name}: evolution cannot keep a 'step' grid; drop 'step'")
        else:
            ranges[p.name] = (p.low, p.high)
    if problems:
        raise ValueError("search space unusable by simbarl evolve:\n  " + "\n  ".join(problems))
    return ranges


def load_ranges(path: str | Path) -> dict[str, tuple[float, float]]:
    return ranges_from_space(load_space(path))


def parse_pair(text: str, flag: str) -> tuple[int, int]:
    """``MIN:MAX`` as two integers."""
    low, sep, high = text.partition(":")
    try:
        if not sep:
            raise ValueError
        return int(low), int(high)
    except ValueError:
        raise ValueError(f"{flag}: expected MIN:MAX with two integers, got {text!r}") from None


def check_evolve(spec: EvolveSpec, cfg: TrainConfig) -> TrainConfig:
    """The resolved starting config of every member, or a ``ValueError`` listing what
    cannot run. Nothing is built or written here."""
    check_selection(spec.population, spec.tournament_size)
    problems = []
    if spec.generations < 1:
        problems.append(f"--generations must be at least 1 (got {spec.generations})")
    if spec.evo_steps < 1:
        problems.append(f"--evo-steps must be positive (got {spec.evo_steps})")
    if spec.fitness not in FITNESS:
        problems.append(f"--fitness must be one of {', '.join(FITNESS)} (got {spec.fitness!r})")
    if spec.fitness_k < 1:
        problems.append(f"--fitness-k must be at least 1 (got {spec.fitness_k})")
    if spec.fitness_episodes < 1:
        problems.append(f"--fitness-episodes must be at least 1 (got {spec.fitness_episodes})")
    if spec.vmap not in VMAP:
        problems.append(f"--vmap must be one of {', '.join(VMAP)} (got {spec.vmap!r})")
    if spec.pause_after is not None and spec.pause_after < 1:
        problems.append(f"--pause-after must be a generation >= 1 (got {spec.pause_after})")
    unknown = sorted(set(spec.mutation_probs) - set(mut.KINDS))
    if unknown:
        problems.append(f"unknown mutation kinds {unknown}; the kinds are {', '.join(mut.KINDS)}")
    probs = list(spec.mutation_probs.values())
    if not all(p >= 0 for p in probs) or not sum(probs) > 0:
        problems.append("--mutation-probs: probabilities must be >= 0 with at least one above 0")
    problems += _unsupported(cfg)
    if problems:
        raise ValueError("cannot evolve:\n  " + "\n  ".join(problems))
    cfg = dataclasses.replace(cfg, steps=spec.generations * spec.evo_steps)
    cfg, _ = rd.resolve(cfg)  # an unknown task or a bad config fails here
    per_iter = cfg.num_envs * cfg.action_repeat
    if spec.evo_steps % per_iter:
        raise ValueError(
            f"--evo-steps {spec.evo_steps} is not a multiple of the env steps of one agent "
            f"step (num_envs {cfg.num_envs} x action_repeat {cfg.action_repeat} = {per_iter})"
        )
    if spec.mutation_probs.get("hp", 0) > 0:
        mut.check_ranges(cfg, spec.ranges)
    if spec.mutation_probs.get("arch", 0) > 0:
        mut.check_arch(cfg, spec.arch)
    return cfg


def _unsupported(cfg: TrainConfig) -> list[str]:
    """``simbarl train`` options that this slice of evolve cannot honour."""
    from simbarl.envs.device_tasks import is_device_task

    out = []
    if is_device_task(cfg.env) and (cfg.devices or 1) > 1:
        out.append("--devices: a population on a device task trains on one device")
    if is_device_task(cfg.env) and cfg.asymmetric_observation:
        out.append("--asymmetric-observation: not supported by evolve")
    if cfg.vmap_seeds != 1:
        out.append("--vmap-seeds: the population is evolve's own; leave it at 1")
    if cfg.reset_at or cfg.reset_every:
        out.append("--reset-at/--reset-every: network resets are not part of evolve")
    if cfg.pause_at is not None:
        out.append("--pause-at: use --pause-after GENERATION")
    if cfg.stop_at_return is not None:
        out.append("--stop-at-return: not supported by evolve")
    if cfg.overlap:
        out.append("--overlap: a population steps its envs and learns one after the other")
    return out


def write_spec(run_dir: Path, spec: EvolveSpec, cfg: TrainConfig) -> None:
    from simbarl.files import atomic_open

    data = {"spec": spec.to_dict(), "config": config_to_dict(cfg)}
    with atomic_open(run_dir / SPEC_FILE) as f:
        f.write(json.dumps(data, indent=2) + "\n")


def read_spec(run_dir: Path) -> tuple[EvolveSpec, TrainConfig]:
    path = Path(run_dir) / SPEC_FILE
    if not path.is_file():
        raise ValueError(f"{run_dir} is not a simbarl evolve run (no {SPEC_FILE})")
    try:
        data = json.loads(path.read_text())
        return EvolveSpec.from_dict(data["spec"]), config_from_dict(data["config"])
    except (json.JSONDecodeError, KeyError, TypeError, ValueError) as e:
        raise ValueError(f"{path} is damaged or was edited by hand ({e})") from e


def selection_score(history: list[float], spec: EvolveSpec) -> float:
    """A member's fitness for selection from its evaluations (NaN: diverged)."""
    if not history:
        return math.nan
    if spec.fitness == "last":
        return history[-1]
    last = history[-spec.fitness_k :]
    return math.nan if any(math.isnan(v) for v in last) else sum(last) / len(last)
