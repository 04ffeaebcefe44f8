"""Mutations keep their ranges and bounds; refused ones change nothing; bad input fails early."""

import dataclasses

import jax
import numpy as np
import pytest
from evolve_helpers import ACT_DIM, OBS_DIM, agent_for, flat, tiny_cfg, trained_like

from simbarl.config import get_field
from simbarl.evolve import mutations as mut
from simbarl.evolve.population import Member, Mutator, next_generation
from simbarl.evolve.tournament import select_parents


def test_hyperparameter_mutations_stay_in_their_ranges():
    rng = np.random.default_rng(0)
    for algo in ("sac", "td3"):
        cfg = tiny_cfg(algo=algo)
        touched = set()
        for _ in range(300):
            new, what = mut.mutate_hyperparameter(cfg, rng)
            for name, (low, high) in mut.DEFAULT_RANGES.items():
                value, old = get_field(new, name), get_field(cfg, name)
                assert low <= value <= high or value == old, (name, value)
                assert type(value) is type(old)
                if value != old:
                    touched.add(name)
                    assert (
                        value in (old * 0.8, old * 1.2)
                        or isinstance(old, int)
                        or value
                        in (
                            low,
                            high,
                        )
                    )
            if new.agent.learning_rate != cfg.agent.learning_rate:
                ratio = new.agent.learning_rate / cfg.agent.learning_rate
                assert new.agent.learning_rate_end == pytest.approx(
                    cfg.agent.learning_rate_end * ratio
                )
            cfg = new
        wrong = "agent.exploration_noise" if algo == "sac" else "agent.target_entropy_scale"
        assert wrong not in touched
        assert len(touched) == 7


def test_an_integer_hyperparameter_moves_by_at_least_one():
    cfg = tiny_cfg(updates_per_step=2)
    ranges = {"updates_per_step": (1, 8)}
    seen = {
        mut.mutate_hyperparameter(cfg, np.random.default_rng(s), ranges)[0].updates_per_step
        for s in range(20)
    }
    assert seen == {1, 3}


def test_a_hyperparameter_at_its_bound_is_refused_not_changed():
    cfg = tiny_cfg(updates_per_step=1)
    ranges = {"updates_per_step": (1, 8)}
    outcomes = [mut.mutate_hyperparameter(cfg, np.random.default_rng(s), ranges) for s in range(20)]
    refused = [c for c, what in outcomes if "refused" in what]
    assert refused and all(c is cfg for c in refused)
    assert {c.updates_per_step for c, _ in outcomes} == {1, 2}


@pytest.mark.parametrize(
    ("ranges", "message"),
    [
        ({"agent.discount": (0.9, 0.99)}, "not a hyperparameter"),
        ({"agent.tau": (0.01, 0.01)}, "empty"),
        ({"agent.learning_rate": (1e-3, 1e-2)}, "start value 0.0001 lies outside"),
        ({"batch_size": (512, 1024)}, "outside"),
    ],
)
def test_bad_ranges_are_a_clear_error(ranges, message):
    with pytest.raises(ValueError, match=message):
        mut.check_ranges(tiny_cfg(), ranges)


def test_default_ranges_hold_the_presets_start():
    mut.check_ranges(tiny_cfg(), mut.DEFAULT_RANGES)
    mut.check_ranges(tiny_cfg(algo="td3"), mut.DEFAULT_RANGES)
    mut.check_arch(tiny_cfg(), mut.ArchBounds())


def test_architecture_changes_stay_in_bounds():
    bounds = mut.ArchBounds(min_blocks=1, max_blocks=3, min_width=32, max_width=128)
    rng = np.random.default_rng(0)
    cfg = tiny_cfg(width=64, blocks=2)
    refused = 0
    for _ in range(300):
        new, what = mut.arch_change(cfg, rng, bounds)
        for net in (new.agent.actor, new.agent.critic):
            assert 1 <= net.num_blocks <= 3 and 32 <= net.width <= 128
        changed = [n for n in ("actor", "critic") if getattr(new.agent, n) != getattr(cfg.agent, n)]
        assert len(changed) <= 1
        if "refused" in what:
            refused += 1
            assert new is cfg
        else:
            (net,) = changed
            old, now = getattr(cfg.agent, net), getattr(new.agent, net)
            assert (old.num_blocks == now.num_blocks) != (old.width == now.width)
            assert abs(now.num_blocks - old.num_blocks) <= 1
            assert abs(now.width - old.width) in (0, 16, 32, 64) or now.width in (32, 128)
        cfg = new
    assert refused > 0


def test_a_change_at_the_bounds_is_refused_not_turned_into_another():
    bounds = mut.ArchBounds(min_blocks=1, max_blocks=1, min_width=32, max_width=32)
    cfg = tiny_cfg(width=32, blocks=1)
    rng = np.random.default_rng(0)
    for _ in range(40):
        new, what = mut.arch_change(cfg, rng, bounds)
        assert new is cfg and "refused" in what


@pytest.mark.parametrize(
    ("bounds", "cfg", "message"),
    [
        (mut.ArchBounds(min_blocks=2), tiny_cfg(blocks=1), "1 blocks lie outside"),
        (mut.ArchBounds(), tiny_cfg(width=16), "width 16 lies outside"),
        (mut.ArchBounds(min_width=64, max_width=32), tiny_cfg(), "min 64 <= max 32"),
    ],
)
def test_bad_architecture_bounds_are_a_clear_error(bounds, cfg, message):
    with pytest.raises(ValueError, match=message):
        mut.check_arch(cfg, bounds)


def test_mutation_probabilities_parse_and_the_elite_is_not_mutated():
    probs = mut.parse_probs("none=0.4,arch=0.2,params=0.2,hp=0.2")
    assert probs == pytest.approx({"none": 0.4, "arch": 0.2, "params": 0.2, "hp": 0.2})
    assert mut.parse_probs("hp=2") == {"none": 0.0, "arch": 0.0, "params": 0.0, "hp": 1.0}
    kinds = mut.choose_kinds(50, mut.parse_probs("arch=1"), np.random.default_rng(0))
    assert kinds[0] == "none" and set(kinds[1:]) == {"arch"}
    kinds = mut.choose_kinds(3, mut.parse_probs("arch=1"), np.random.default_rng(0), True)
    assert kinds == ["arch"] * 3
    for bad in ("grow=1", "hp", "hp=x", "hp=-1", "none=0"):
        with pytest.raises(ValueError, match="--mutation-probs"):
            mut.parse_probs(bad)


def test_parameter_noise_touches_a_tenth_of_the_actor_kernels_and_keeps_the_sphere():
    cfg = tiny_cfg(width=32)
    agent = agent_for(cfg)
    state = trained_like(agent)
    out = mut.mutate_parameters(agent, state, jax.random.PRNGKey(1))
    before, after = flat(state.actor), flat(out.actor)
    changed = total = 0
    for names, w in before.items():
        if names[-1] != "kernel":
            np.testing.assert_array_equal(after[names], w)
            continue
        norms = np.linalg.norm(np.asarray(after[names]), axis=-2)
        np.testing.assert_allclose(norms, 1.0, rtol=1e-5)  # SimbaV2: re-projected
        total += w.size
    # Without the projection the changed entries are exactly the noisy ones.
    unprojected = dataclasses.replace(cfg.agent, weight_projection=False)
    plain_agent = agent_for(dataclasses.replace(cfg, agent=unprojected))
    plain = mut.mutate_parameters(plain_agent, state, jax.random.PRNGKey(1))
    for names, w in before.items():
        if names[-1] == "kernel":
            changed += int(np.sum(np.asarray(flat(plain.actor)[names]) != np.asarray(w)))
    assert 0.07 < changed / total < 0.13
    # Another mutation of that shape reuses the compiled program.
    compiled = mut._perturb._cache_size()
    mut.mutate_parameters(agent, out, jax.random.PRNGKey(2))
    assert mut._perturb._cache_size() == compiled
    for part in ("critic", "target_critic", "actor_opt", "critic_opt", "log_temp"):
        for a, b in zip(
            jax.tree.leaves(getattr(state, part)), jax.tree.leaves(getattr(out, part)), strict=True
        ):
            np.testing.assert_array_equal(a, b)


def test_next_generation_copies_parents_and_keeps_the_elite():
    cfg = tiny_cfg(width=32)
    agent = agent_for(cfg)
    members = [Member(i, cfg, trained_like(agent, seed=i), fitness=[float(i)]) for i in range(3)]
    parents = select_parents([m.fitness[-1] for m in members], np.random.default_rng(0), 2)
    mutator = Mutator(OBS_DIM, ACT_DIM)
    kinds = ["none", "none", "hp"]
    out = next_generation(members, parents, kinds, mutator, np.random.default_rng(0), first_id=3)
    assert out[0] is not members[2] and out[0].id == 2 and out[0].state is members[2].state
    for child, p in zip(out[1:], parents[1:], strict=True):
        assert child.parent == members[p].id and child.id >= 3
        assert child.fitness == members[p].fitness
        for a, b in zip(
            jax.tree.leaves(child.state), jax.tree.leaves(members[p].state), strict=True
        ):
            np.testing.assert_array_equal(a, b)
            assert a.unsafe_buffer_pointer() != b.unsafe_buffer_pointer()
    assert out[2].mutation.startswith("hp:")
    with pytest.raises(ValueError, match="unknown mutation"):
        mutator.apply(members[0], "grow", np.random.default_rng(0))


def test_an_architecture_mutation_gives_a_state_of_the_new_shape():
    cfg = tiny_cfg("mlp", width=48, blocks=2)
    member = Member(0, cfg, trained_like(agent_for(cfg)))
    mutator = Mutator(OBS_DIM, ACT_DIM)
    rng = np.random.default_rng(0)
    child = mutator.apply(member, "arch", rng)
    while "refused" in child.mutation:
        child = mutator.apply(member, "arch", rng)
    assert child.cfg != cfg and child.mutation.startswith("arch:")
    shapes = jax.eval_shape(agent_for(child.cfg).init, jax.random.PRNGKey(0))
    as_shapes = lambda t: jax.tree.map(lambda x: (x.shape, x.dtype), t)
    assert as_shapes(child.state) == as_shapes(shapes)
