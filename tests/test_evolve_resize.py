"""Architecture resizes keep trained weights and Adam moments, and SimbaV2's sphere."""

import functools

import jax
import numpy as np
import pytest
from evolve_helpers import agent_for, flat, tiny_cfg, trained_like, with_net

from simbarl.evolve.resize import alpha_ratio, is_alpha, is_hyper_kernel, resize_state

# One resize per encoder covers all four changes: the actor loses a block and 16
# units, the critic gains a block and 16 units (compiles are slow on a busy CPU).
SHRINK, GROW = dict(num_blocks=1, width=32), dict(num_blocks=3, width=64)
ENCODERS = ["simbav2", "simba", "mlp"]
ALGO = {"simbav2": "sac", "simba": "sac", "mlp": "td3"}  # td3: a target actor too


@functools.cache
def resized(encoder):
    """A random state of 2 blocks x 48 units and its resize (actor shrunk, critic grown)."""
    cfg = tiny_cfg(encoder, ALGO[encoder], width=48, blocks=2)
    new_cfg = with_net(with_net(cfg, "actor", **SHRINK), "critic", **GROW)
    old_agent, new_agent = agent_for(cfg), agent_for(new_cfg)
    state = trained_like(old_agent)
    out = resize_state(old_agent, state, new_agent, jax.random.PRNGKey(5))
    return old_agent, state, new_agent, out


def common(a, b):
    return tuple(slice(0, min(x, y)) for x, y in zip(a.shape, b.shape, strict=True))


def unit_columns(w):
    w = np.asarray(w, np.float64)
    return w / np.linalg.norm(w, axis=-2, keepdims=True)


def check_params(old, new, old_net, new_net):
    """Every overlapping slice is the old one (SimbaV2 kernels: re-projected; alphas: the
    same effective value); SimbaV2 kernels have unit columns."""
    old, new = flat(old), flat(new)
    assert (
        any(names not in new for names in old)
        or any(names not in old for names in new)
        or (any(old[n].shape != new[n].shape for n in old))
    )
    for names, w in new.items():
        if is_hyper_kernel(names):
            np.testing.assert_allclose(np.linalg.norm(np.asarray(w), axis=-2), 1.0, rtol=1e-5)
        if names not in old:
            continue
        sl = common(old[names], w)
        expected = np.asarray(old[names])[sl]
        if is_hyper_kernel(names):
            np.testing.assert_allclose(w[sl], unit_columns(expected), rtol=1e-5, atol=1e-6)
        elif is_alpha(names):
            effective = expected * alpha_ratio(old_net)
            np.testing.assert_allclose(w[sl] * alpha_ratio(new_net), effective, rtol=1e-5)
        else:
            np.testing.assert_array_equal(w[sl], expected)


def check_moments(old, new, old_net, new_net):
    """Adam moments of preserved entries carried over exactly (alphas: rescaled with
    their parameter); new entries zero; counts kept."""
    old, new = flat(old), flat(new)
    for names, m in new.items():
        moment = "mu" in names or "nu" in names
        if names not in old:
            assert not moment or not np.any(np.asarray(m)), names
            continue
        sl = common(old[names], m)
        expected = np.asarray(old[names])[sl]
        if moment and is_alpha(names):
            power = 1 if "mu" in names else 2
            expected = expected * (alpha_ratio(new_net) / alpha_ratio(old_net)) ** power
            np.testing.assert_allclose(m[sl], expected, rtol=1e-5)
        else:
            np.testing.assert_array_equal(m[sl], expected)
        if moment:
            rest = np.asarray(m).copy()
            rest[sl] = 0
            assert not np.any(rest), names


@pytest.mark.parametrize("encoder", ENCODERS)
def test_resize_carries_weights_and_adam_moments(encoder):
    old_agent, state, new_agent, out = resized(encoder)
    fresh = jax.eval_shape(new_agent.init, jax.random.PRNGKey(0))
    shapes = lambda t: jax.tree.map(lambda x: (x.shape, x.dtype), t)
    assert jax.tree.structure(out) == jax.tree.structure(fresh)
    assert shapes(out) == shapes(fresh)
    o, n = old_agent.cfg, new_agent.cfg
    check_params(state.actor, out.actor, o.actor, n.actor)
    check_params(state.critic, out.critic, o.critic, n.critic)
    check_params(state.target_critic, out.target_critic, o.critic, n.critic)
    check_moments(state.actor_opt, out.actor_opt, o.actor, n.actor)
    check_moments(state.critic_opt, out.critic_opt, o.critic, n.critic)
    for part in ("log_temp", "temp_opt", "key", "step"):
        for a, b in zip(
            jax.tree.leaves(getattr(state, part)), jax.tree.leaves(getattr(out, part)), strict=True
        ):
            np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("encoder", ENCODERS)
def test_targets_get_the_same_new_entries_as_their_online_networks(encoder):
    _, state, new_agent, out = resized(encoder)
    pairs = [(state.target_critic, out.critic, out.target_critic)]
    if new_agent.has_target_actor:
        pairs.append((state.target_actor, out.actor, out.target_actor))
    for old_target, online, target in pairs:
        old, online, target = flat(old_target), flat(online), flat(target)
        for names, w in target.items():
            if names not in old:
                np.testing.assert_array_equal(w, online[names])
                continue
            mask = np.ones(w.shape, bool)
            mask[common(old[names], w)] = False
            np.testing.assert_array_equal(np.asarray(w)[mask], np.asarray(online[names])[mask])


def test_widening_keeps_preserved_simbav2_units_exactly():
    _, state, _, out = resized("simbav2")
    old, new = flat(state.critic), flat(out.critic)
    for names, w in new.items():
        if is_hyper_kernel(names) and names in old and w.shape != old[names].shape:
            rows, cols = old[names].shape[-2:]
            np.testing.assert_allclose(w[..., :rows, :cols], old[names][..., :cols], rtol=1e-6)
            assert not np.any(np.asarray(w[..., rows:, :cols]))  # added inputs start at zero


def test_a_new_simbav2_block_starts_with_its_alpha_at_init():
    _, state, new_agent, out = resized("simbav2")
    net = new_agent.cfg.critic
    for names, w in flat(out.critic).items():
        if is_alpha(names):
            effective = np.asarray(w) * alpha_ratio(net)
            if "HyperLERPBlock_2" in names:  # the new, third block
                np.testing.assert_allclose(effective, 1.0 / (net.num_blocks + 1), rtol=1e-6)
            else:
                assert not np.allclose(effective, 1.0 / (net.num_blocks + 1))


@pytest.mark.parametrize("encoder", ENCODERS)
def test_grow_then_shrink_gives_back_the_original_critic(encoder):
    # The critic was widened 48 -> 64 and given a third block; going back to the
    # original architecture returns its weights, targets and Adam moments.
    old_agent, state, new_agent, out = resized(encoder)
    again = resize_state(new_agent, out, old_agent, jax.random.PRNGKey(2))
    for part in ("critic", "target_critic", "critic_opt"):
        before, after = getattr(state, part), getattr(again, part)
        assert jax.tree.structure(after) == jax.tree.structure(before)
        for a, b in zip(jax.tree.leaves(before), jax.tree.leaves(after), strict=True):
            np.testing.assert_allclose(np.asarray(b), np.asarray(a), rtol=1e-5, atol=1e-7)
