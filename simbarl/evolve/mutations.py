"""Mutations of one population member: hyperparameters, actor weights, architecture.

Each takes a member's resolved ``TrainConfig`` (and learner state where it
needs one) and an explicit ``numpy.random.Generator`` or JAX key, and returns
the mutated config/state with a short description for ``population.jsonl``.
A mutation that cannot apply (a block removed at the minimum, a width already
at its bound) is refused, recorded as such, and changes nothing: it is never
turned into another mutation.
"""

from __future__ import annotations

import dataclasses
import math
from functools import partial

import jax
import jax.numpy as jnp
import numpy as np

from simbarl.agents.actor_critic import ActorCritic, LearnerState
from simbarl.agents.common import project
from simbarl.config import TrainConfig, get_field, set_field
from simbarl.evolve.resize import key_names

KINDS = ("none", "arch", "params", "hp")
DEFAULT_PROBS = {"none": 0.4, "arch": 0.2, "params": 0.2, "hp": 0.2}

# Hyperparameters a mutation may scale, with default ranges around the SimbaV2
# values (lr 1e-4, batch 256, UTD 2, tau 0.005, entropy scale 0.5, TD3 noise 0.1).
# The learning rate moves actor and critic together; their scales move them apart.
DEFAULT_RANGES: dict[str, tuple[float, float]] = {
    "agent.learning_rate": (1e-5, 1e-3),
    "agent.actor_lr_scale": (0.1, 10.0),
    "agent.critic_lr_scale": (0.1, 10.0),
    "batch_size": (64, 1024),
    "updates_per_step": (1, 8),
    "agent.tau": (1e-3, 5e-2),
    "agent.target_entropy_scale": (0.1, 2.0),
    "agent.exploration_noise": (0.02, 0.5),
}
ONLY_FOR = {
    "agent.target_entropy_scale": ("sac", "tqc", "flashsac"),
    "agent.exploration_noise": ("td3", "ddpg"),
}
FACTORS = (0.8, 1.2)


@dataclasses.dataclass(frozen=True)
class ArchBounds:
    """Limits of architecture mutations, for actor and critic alike."""

    min_blocks: int = 1
    max_blocks: int = 4
    min_width: int = 32
    max_width: int = 1024
    width_steps: tuple[int, ...] = (16, 32, 64)


# ----------------------------------------------------------------- checks at the door
def check_ranges(cfg: TrainConfig, ranges: dict[str, tuple[float, float]]) -> None:
    """Refuse unknown hyperparameters, empty ranges and a start value outside its range."""
    problems = []
    for name, bounds in ranges.items():
        if name not in DEFAULT_RANGES:
            known = ", ".join(DEFAULT_RANGES)
            problems.append(f"{name}: not a hyperparameter evolution mutates ({known})")
            continue
        low, high = bounds
        if not low < high:
            problems.append(f"{name}: the range [{low}, {high}] is empty; low must be below high")
            continue
        if cfg.algo not in ONLY_FOR.get(name, (cfg.algo,)):
            continue
        value = get_field(cfg, name)
        if not low <= value <= high:
            problems.append(f"{name}: the start value {value} lies outside [{low}, {high}]")
    if problems:
        raise ValueError("invalid mutation ranges:\n  " + "\n  ".join(problems))


def check_arch(cfg: TrainConfig, bounds: ArchBounds) -> None:
    """Refuse bounds that are empty or that the starting networks lie outside."""
    problems = []
    if not 1 <= bounds.min_blocks <= bounds.max_blocks:
        problems.append(f"blocks: need 1 <= min {bounds.min_blocks} <= max {bounds.max_blocks}")
    if not 1 <= bounds.min_width <= bounds.max_width:
        problems.append(f"width: need 1 <= min {bounds.min_width} <= max {bounds.max_width}")
    if not bounds.width_steps or min(bounds.width_steps) < 1:
        problems.append(f"width steps must be positive (got {bounds.width_steps})")
    for net in ("actor", "critic"):
        n = getattr(cfg.agent, net)
        if not bounds.min_blocks <= n.num_blocks <= bounds.max_blocks:
            problems.append(
                f"{net}: {n.num_blocks} blocks lie outside "
                f"[{bounds.min_blocks}, {bounds.max_blocks}]"
            )
        if not bounds.min_width <= n.width <= bounds.max_width:
            problems.append(
                f"{net}: width {n.width} lies outside [{bounds.min_width}, {bounds.max_width}]"
            )
    if problems:
        raise ValueError("invalid architecture bounds:\n  " + "\n  ".join(problems))


def parse_probs(text: str) -> dict[str, float]:
    """``none=0.4,arch=0.2,params=0.2,hp=0.2`` (unnamed kinds: 0) as normalized probabilities."""
    probs = dict.fromkeys(KINDS, 0.0)
    for item in filter(None, (s.strip() for s in text.split(","))):
        name, sep, value = item.partition("=")
        if not sep or name.strip() not in probs:
            raise ValueError(
                f"--mutation-probs: expected KIND=P with KIND in {KINDS}, got {item!r}"
            )
        try:
            p = float(value)
        except ValueError:
            raise ValueError(f"--mutation-probs: {item!r} has no number after '='") from None
        if not (p >= 0 and math.isfinite(p)):
            raise ValueError(f"--mutation-probs: {item!r} must be a finite probability >= 0")
        probs[name.strip()] = p
    total = sum(probs.values())
    if total <= 0:
        raise ValueError("--mutation-probs: at least one probability must be above 0")
    return {k: v / total for k, v in probs.items()}


def choose_kinds(
    n: int, probs: dict[str, float], rng: np.random.Generator, mutate_elite: bool = False
) -> list[str]:
    """One mutation kind per member of a new generation; member 0 (the elite) gets
    ``none`` unless ``mutate_elite``."""
    kinds = list(probs)
    p = np.asarray([probs[k] for k in kinds], np.float64)
    drawn = [kinds[i] for i in rng.choice(len(kinds), size=n, p=p / p.sum())]
    if not mutate_elite and n:
        drawn[0] = "none"
    return drawn


# ------------------------------------------------------------------ hyperparameters
def mutate_hyperparameter(
    cfg: TrainConfig, rng: np.random.Generator, ranges: dict[str, tuple[float, float]] | None = None
) -> tuple[TrainConfig, str]:
    """One hyperparameter times 0.8 or 1.2, clipped to its range.

    An integer that rounding would leave unchanged moves by one in the drawn
    direction. The learning rate's decay end moves by the same factor, so the
    schedule keeps its shape.
    """
    ranges = DEFAULT_RANGES if ranges is None else ranges
    names = [n for n in ranges if cfg.algo in ONLY_FOR.get(n, (cfg.algo,))]
    if not names:
        return cfg, "hp: none applies"
    name = names[int(rng.integers(len(names)))]
    factor = FACTORS[int(rng.integers(len(FACTORS)))]
    low, high = ranges[name]
    old = get_field(cfg, name)
    if isinstance(old, int):
        new = int(round(old * factor))
        if new == old:
            new = old + (1 if factor > 1 else -1)
        new = int(min(max(new, math.ceil(low)), math.floor(high)))
    else:
        new = float(np.clip(old * factor, low, high))
    if new == old:
        return cfg, f"hp: {name} at its bound {old} (refused)"
    out = set_field(cfg, name, new)
    if name == "agent.learning_rate":
        end = cfg.agent.learning_rate_end * new / old
        out = set_field(out, "agent.learning_rate_end", end)
    return out, f"hp: {name} {old:g} -> {new:g}"


# ------------------------------------------------------------------ parameters
def mutate_parameters(
    agent: ActorCritic,
    state: LearnerState,
    key: jax.Array,
    fraction: float = 0.1,
    strength: float = 0.1,
) -> LearnerState:
    """Gaussian noise on a random ``fraction`` of the actor's kernel entries.

    Each chosen entry ``w`` gets ``N(0, (strength * |w|)^2)`` (AgileRL's rule);
    SimbaV2 kernels are re-projected to the unit sphere. Adam's moments, the
    targets and the critic are kept (AgileRL resets the optimizer here).
    """

    actor = _perturb(state.actor, key, fraction, strength, agent.cfg.weight_projection)
    return state.replace(actor=actor)


@partial(jax.jit, static_argnames=("fraction", "strength", "projected"))
def _perturb(actor, key, fraction: float, strength: float, projected: bool):
    """One compiled program per actor shape (op by op, every kernel shape would
    compile its own), reused by every later parameter mutation of that shape."""
    leaves = jax.tree_util.tree_flatten_with_path(actor)[0]
    keys = iter(jax.random.split(key, max(len(leaves), 1)))

    def noisy(path, w):
        if key_names(path)[-1] != "kernel":
            return w
        k_mask, k_noise = jax.random.split(next(keys))
        chosen = jax.random.bernoulli(k_mask, fraction, w.shape)
        noise = strength * jnp.abs(w) * jax.random.normal(k_noise, w.shape, w.dtype)
        return jnp.where(chosen, w + noise, w)

    noisy_actor = jax.tree_util.tree_map_with_path(noisy, actor)
    return project(noisy_actor) if projected else noisy_actor


# ------------------------------------------------------------------ architecture
def arch_change(
    cfg: TrainConfig, rng: np.random.Generator, bounds: ArchBounds = ArchBounds()
) -> tuple[TrainConfig, str]:
    """The config after one drawn change of actor or critic: add or remove a block,
    widen or narrow by one of ``width_steps`` (clipped to the bounds).

    A change the bounds forbid is refused (the config comes back unchanged).
    """
    net = ("actor", "critic")[int(rng.integers(2))]
    op = ("add_block", "remove_block", "widen", "narrow")[int(rng.integers(4))]
    n = getattr(cfg.agent, net)
    blocks, width = n.num_blocks, n.width
    if op == "add_block":
        blocks = min(blocks + 1, bounds.max_blocks)
    elif op == "remove_block":
        blocks = max(blocks - 1, bounds.min_blocks)
    else:
        step = int(bounds.width_steps[int(rng.integers(len(bounds.width_steps)))])
        width = width + step if op == "widen" else width - step
        width = min(max(width, bounds.min_width), bounds.max_width)
        op = f"{op} {step}"
    what = f"arch: {net} {op}"
    if (blocks, width) == (n.num_blocks, n.width):
        return cfg, f"{what} (refused: at its bound)"
    new = dataclasses.replace(n, num_blocks=blocks, width=width)
    change = f"{n.num_blocks}x{n.width} -> {blocks}x{width}"
    return set_field(cfg, f"agent.{net}", new), f"{what} ({change})"
