"""A population of members and the step from one generation to the next.

A member is a resolved ``TrainConfig`` (its hyperparameters and architecture)
and the learner state trained under it; the learner itself is rebuilt from
the config (``train.learner.build_agent``) whenever it is needed, so a
mutated config is all a mutated member needs.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

import jax
import numpy as np

from simbarl.agents.actor_critic import LearnerState
from simbarl.config import TrainConfig
from simbarl.evolve import mutations as mut
from simbarl.evolve.resize import resize_state
from simbarl.evolve.tournament import copy_tree
from simbarl.runs.learner import build_agent


@dataclasses.dataclass
class Member:
    id: int
    cfg: TrainConfig
    state: LearnerState
    parent: int | None = None
    mutation: str = "none"
    fitness: list[float] = dataclasses.field(default_factory=list)


@dataclasses.dataclass(frozen=True)
class Mutator:
    """What mutations may do, and the shapes a learner is built for."""

    obs_dim: int
    action_dim: int
    ranges: dict = dataclasses.field(default_factory=lambda: dict(mut.DEFAULT_RANGES))
    bounds: mut.ArchBounds = mut.ArchBounds()

    def check(self, cfg: TrainConfig) -> None:
        """Refuse ranges or bounds the starting config cannot evolve within."""
        mut.check_ranges(cfg, self.ranges)
        mut.check_arch(cfg, self.bounds)

    def apply(self, member: Member, kind: str, rng: np.random.Generator) -> Member:
        """``member`` after one mutation of ``kind`` (``none``, ``hp``, ``params``, ``arch``)."""
        cfg, state = member.cfg, member.state
        key = jax.random.PRNGKey(int(rng.integers(2**31 - 1)))
        if kind == "none":
            what = "none"
        elif kind == "hp":
            cfg, what = mut.mutate_hyperparameter(cfg, rng, self.ranges)
        elif kind == "params":
            agent = build_agent(cfg, self.obs_dim, self.action_dim)
            state, what = mut.mutate_parameters(agent, state, key), "params: actor noise"
        elif kind == "arch":
            cfg, what = mut.arch_change(cfg, rng, self.bounds)
            if cfg is not member.cfg:
                old = build_agent(member.cfg, self.obs_dim, self.action_dim)
                new = build_agent(cfg, self.obs_dim, self.action_dim)
                state = resize_state(old, state, new, key)
        else:
            raise ValueError(f"unknown mutation {kind!r}; one of {mut.KINDS}")
        return dataclasses.replace(member, cfg=cfg, state=state, mutation=what)


def next_generation(
    members: Sequence[Member],
    parents: Sequence[int],
    kinds: Sequence[str],
    mutator: Mutator,
    rng: np.random.Generator,
    first_id: int,
    elitism: bool = True,
) -> list[Member]:
    """The members that ``parents`` (indices, elite first) and ``kinds`` make.

    With ``elitism`` the elite (entry 0, when its kind is ``none``) continues as itself; every
    other entry is a new member (ids from ``first_id``) that copies its parent
    whole (config, params, targets, optimizer states, temperature, fitness
    history) into its own buffers and then mutates.
    """
    if len(parents) != len(kinds):
        raise ValueError(f"{len(parents)} parents but {len(kinds)} mutation kinds")
    out, next_id = [], first_id
    for i, (p, kind) in enumerate(zip(parents, kinds, strict=True)):
        parent = members[p]
        if elitism and i == 0 and kind == "none":
            out.append(dataclasses.replace(parent, mutation="none (elite)"))
            continue
        child = Member(
            id=next_id,
            cfg=parent.cfg,
            state=copy_tree(parent.state),
            parent=parent.id,
            fitness=list(parent.fitness),
        )
        next_id += 1
        out.append(mutator.apply(child, kind, rng))
    return out
