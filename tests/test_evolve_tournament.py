"""Tournament selection with elitism, and copies that own their buffers."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from simbarl.evolve.tournament import (
    check_selection,
    copy_tree,
    elite,
    select_parents,
    take_members,
    tournament,
)


def test_crafted_fitness_with_fixed_seed_gives_known_parents():
    fitness = [1.0, 5.0, 3.0, 2.0]
    parents = select_parents(fitness, np.random.default_rng(0), tournament_size=2)
    # The elite (member 1) first; then the winners of pairs drawn with replacement
    # by default_rng(0): (3, 2) -> 2, (2, 1) -> 1, (1, 0) -> 1.
    assert parents == [1, 2, 1, 1]
    rng = np.random.default_rng(0)
    draws = [tuple(rng.integers(0, 4, size=2)) for _ in range(3)]
    assert draws == [(3, 2), (2, 1), (1, 0)]


def test_the_best_is_always_kept_first():
    rng = np.random.default_rng(1)
    for _ in range(200):
        n = int(rng.integers(2, 9))
        fitness = rng.normal(size=n)
        k = int(rng.integers(1, n + 1))
        parents = select_parents(fitness, rng, tournament_size=k)
        assert len(parents) == n
        assert parents[0] == int(np.argmax(fitness))
        assert all(0 <= p < n for p in parents)


def test_a_tournament_of_the_whole_population_drawn_without_luck_still_wins_by_fitness():
    # Whatever is drawn, the winner is the fittest of the draw.
    fitness = [0.0, 10.0, 5.0]
    rng = np.random.default_rng(3)
    for _ in range(50):
        state = rng.bit_generator.state
        winner = tournament(fitness, 3, rng)
        rng2 = np.random.default_rng()
        rng2.bit_generator.state = state
        drawn = rng2.integers(0, 3, size=3)
        assert winner == max(drawn, key=lambda i: fitness[i])


def test_nan_fitness_ranks_last_and_ties_pick_the_first():
    assert elite([np.nan, -5.0, -7.0]) == 1
    assert elite([2.0, 2.0, 1.0]) == 0
    parents = select_parents([np.nan, np.nan, 0.0], np.random.default_rng(0), 3)
    assert parents[0] == 2


def test_a_diverged_member_never_wins_while_another_is_left():
    # Size 1: every draw is its own winner, so only the pool can keep NaN out.
    parents = select_parents([np.nan, -3.0, np.nan, np.nan], np.random.default_rng(0), 1)
    assert parents == [1, 1, 1, 1]
    # All diverged: the population still goes on (the run stops elsewhere).
    assert len(select_parents([np.nan, np.nan], np.random.default_rng(0), 1)) == 2


def test_without_elitism_every_parent_comes_from_a_tournament():
    parents = select_parents([0.0, 1.0], np.random.default_rng(0), 1, elitism=False)
    assert len(parents) == 2


@pytest.mark.parametrize(
    ("population", "size", "message"),
    [(1, 1, "at least 2 members"), (0, 1, "at least 2"), (4, 0, "at least 1"), (3, 4, "larger")],
)
def test_bad_selection_is_a_clear_error(population, size, message):
    with pytest.raises(ValueError, match=message):
        check_selection(population, size)
    with pytest.raises(ValueError, match=message):
        select_parents([0.0] * population, np.random.default_rng(0), size)


def test_take_members_copies_parent_slices():
    stacked = {"w": jnp.arange(12.0).reshape(4, 3), "step": jnp.arange(4)}
    out = take_members(stacked, [2, 0, 2, 3])
    np.testing.assert_array_equal(out["w"][0], stacked["w"][2])
    np.testing.assert_array_equal(out["w"][2], stacked["w"][2])
    np.testing.assert_array_equal(out["step"], [2, 0, 2, 3])


def test_copies_own_their_buffers():
    tree = {"w": jnp.ones((3, 3)), "k": jax.random.PRNGKey(0)}
    copy = copy_tree(tree)
    for a, b in zip(jax.tree.leaves(tree), jax.tree.leaves(copy), strict=True):
        np.testing.assert_array_equal(a, b)
        assert a.unsafe_buffer_pointer() != b.unsafe_buffer_pointer()
