"""Tournament selection with elitism over a population's fitness values.

Pure functions of the fitness values and an explicit ``numpy.random.Generator``:
they return *indices* of parents, so the same selection serves a list of
members and a population stacked on a leading axis (``take_members``).
"""

from __future__ import annotations

from collections.abc import Sequence

import jax
import jax.numpy as jnp
import numpy as np


def check_selection(population: int, tournament_size: int) -> None:
    """Refuse a population or tournament that cannot select (before any work)."""
    if population < 2:
        raise ValueError(f"a population needs at least 2 members to select from (got {population})")
    if tournament_size < 1:
        raise ValueError(f"the tournament size must be at least 1 (got {tournament_size})")
    if tournament_size > population:
        raise ValueError(
            f"the tournament size {tournament_size} is larger than the population {population}; "
            "use --tournament-size between 1 and --population"
        )


def _scores(fitness: Sequence[float]) -> np.ndarray:
    """Fitness as floats; a NaN (a diverged member) ranks below everything."""
    scores = np.asarray(fitness, np.float64)
    if scores.ndim != 1:
        raise ValueError(f"fitness must be one value per member (got shape {scores.shape})")
    return np.where(np.isnan(scores), -np.inf, scores)


def elite(fitness: Sequence[float]) -> int:
    """The best member (the first of those tied)."""
    return int(np.argmax(_scores(fitness)))


def tournament(fitness: Sequence[float], size: int, rng: np.random.Generator) -> int:
    """The winner of ``size`` members drawn with replacement (ties: the first drawn).

    Diverged members (NaN fitness) are not drawn while any other member is left,
    so one can never win a draw that holds only diverged members."""
    scores = _scores(fitness)
    alive = np.flatnonzero(~np.isnan(np.asarray(fitness, np.float64)))
    pool = alive if alive.size else np.arange(len(scores))
    drawn = pool[rng.integers(0, len(pool), size=size)]
    return int(drawn[np.argmax(scores[drawn])])


def select_parents(
    fitness: Sequence[float],
    rng: np.random.Generator,
    tournament_size: int = 2,
    elitism: bool = True,
) -> list[int]:
    """The parent of each member of the next generation, as indices into ``fitness``.

    With ``elitism`` the first entry is the best member, kept unchanged; every
    other entry is the winner of its own tournament. The next generation has as
    many members as this one.
    """
    n = len(fitness)
    check_selection(n, tournament_size)
    parents = [elite(fitness)] if elitism else []
    while len(parents) < n:
        parents.append(tournament(fitness, tournament_size, rng))
    return parents


def copy_tree(tree):
    """A copy with its own buffers: a learner state is donated to its update, so two
    members must never share one."""
    return jax.tree.map(lambda x: jnp.array(x, copy=True), tree)


def take_members(stacked, parents: Sequence[int]):
    """A stacked population (leading member axis) re-indexed by ``parents``: each new
    member is a full copy of its parent's slice (params, targets, optimizer states,
    temperature, key, step)."""
    index = jnp.asarray(np.asarray(parents, np.int32))
    return jax.tree.map(lambda x: jnp.take(x, index, axis=0), stacked)
