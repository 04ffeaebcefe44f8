"""C51 projection and the expected value of a categorical distribution."""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from simbarl.agents import categorical

project = jax.jit(categorical.project)
BINS = np.linspace(-5.0, 5.0, 101, dtype=np.float32)
BATCH, ATOMS = 32, 101


def brute_force_project(support, probs, bins) -> np.ndarray:
    """Textbook C51 projection, one atom at a time, in float64."""
    support = np.asarray(support, np.float64)
    probs = np.asarray(probs, np.float64)
    bins = np.asarray(bins, np.float64)
    v_min, v_max, n = bins[0], bins[-1], len(bins)
    dz = (v_max - v_min) / (n - 1)
    out = np.zeros((support.shape[0], n))
    for i in range(support.shape[0]):
        for j in range(support.shape[1]):
            z = min(max(support[i, j], v_min), v_max)
            b = (z - v_min) / dz
            lo, hi = math.floor(b), math.ceil(b)
            if lo == hi:
                out[i, lo] += probs[i, j]
            else:
                out[i, lo] += probs[i, j] * (hi - b)
                out[i, hi] += probs[i, j] * (b - lo)
    return out


def random_case(seed: int, low: float, high: float, atoms: int = ATOMS, batch: int = BATCH):
    rng = np.random.default_rng(seed)
    support = rng.uniform(low, high, size=(batch, atoms)).astype(np.float32)
    probs = rng.dirichlet(np.full(atoms, 0.5), size=batch).astype(np.float32)
    return support, probs


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_mass_conserved_with_atoms_outside_support(seed):
    support, probs = random_case(seed, -9.0, 9.0)
    assert (support < BINS[0]).any() and (support > BINS[-1]).any()
    out = np.asarray(project(support, probs, BINS))
    assert out.shape == (BATCH, len(BINS))
    assert out.dtype == np.float32
    assert (out >= 0).all()
    np.testing.assert_allclose(out.sum(-1), 1.0, atol=1e-5)


@pytest.mark.parametrize("seed", [3, 4])
def test_mean_preserved_inside_support(seed):
    support, probs = random_case(seed, -5.0, 5.0)
    out = np.asarray(project(support, probs, BINS), np.float64)
    want = (support.astype(np.float64) * probs).sum(-1)
    np.testing.assert_allclose(out @ BINS.astype(np.float64), want, atol=1e-4)


def test_mean_of_clipped_support_preserved():
    """Outside atoms are clipped first, so the projection keeps the clipped mean."""
    support, probs = random_case(5, -9.0, 9.0)
    out = np.asarray(project(support, probs, BINS), np.float64)
    want = (np.clip(support, -5, 5).astype(np.float64) * probs).sum(-1)
    np.testing.assert_allclose(out @ BINS.astype(np.float64), want, atol=1e-4)


@pytest.mark.parametrize("seed", [6, 7, 8])
def test_matches_brute_force(seed):
    support, probs = random_case(seed, -7.0, 7.0)
    # sprinkle atoms exactly on bins (the l == u case), on both ends, and far outside
    rng = np.random.default_rng(seed + 100)
    rows, cols = rng.integers(0, BATCH, 40), rng.integers(0, ATOMS, 40)
    support[rows, cols] = BINS[rng.integers(0, len(BINS), 40)]
    support[0, :4] = [BINS[0], BINS[-1], -1e6, 1e6]
    got = np.asarray(project(support, probs, BINS))
    np.testing.assert_allclose(got, brute_force_project(support, probs, BINS), atol=2e-5)


def test_matches_brute_force_other_bins():
    bins = np.linspace(-1.0, 2.0, 11, dtype=np.float32)
    support, probs = random_case(9, -2.0, 3.0, atoms=11, batch=8)
    support[1, :3] = bins[[0, 5, 10]]
    got = np.asarray(jax.jit(categorical.project)(support, probs, bins))
    np.testing.assert_allclose(got, brute_force_project(support, probs, bins), atol=2e-5)
    np.testing.assert_allclose(got.sum(-1), 1.0, atol=1e-5)


def test_atoms_on_bins_are_one_hot():
    # every atom of row i sits on bin k_i (both ends included)
    ks = np.array([0, 1, 17, 50, 99, 100] + list(range(2, 2 + BATCH - 6)))
    support = np.repeat(BINS[ks][:, None], ATOMS, axis=1)
    _, probs = random_case(10, 0, 1)
    out = np.asarray(project(support, probs, BINS))
    np.testing.assert_allclose(out, np.eye(len(BINS))[ks], atol=1e-5)


def test_support_equal_to_bins_is_identity():
    _, probs = random_case(11, 0, 1)
    support = np.broadcast_to(BINS, (BATCH, ATOMS))
    out = np.asarray(project(support, probs, BINS))
    np.testing.assert_allclose(out, probs, atol=1e-5)


def test_midpoint_splits_evenly():
    support = np.full((BATCH, ATOMS), 0.05, np.float32)  # halfway between bins 50 and 51
    probs = np.full((BATCH, ATOMS), 1.0 / ATOMS, np.float32)
    out = np.asarray(project(support, probs, BINS))
    np.testing.assert_allclose(out[:, 50], 0.5, atol=1e-4)
    np.testing.assert_allclose(out[:, 51], 0.5, atol=1e-4)


def test_mean_is_softmax_weighted_bins():
    rng = np.random.default_rng(12)
    logits = rng.normal(scale=3.0, size=(2, BATCH, len(BINS))).astype(np.float32)
    got = np.asarray(jax.jit(categorical.mean)(logits, BINS))
    z = logits.astype(np.float64)
    p = np.exp(z - z.max(-1, keepdims=True))
    p /= p.sum(-1, keepdims=True)
    assert got.shape == (2, BATCH)
    np.testing.assert_allclose(got, (p * BINS).sum(-1), rtol=1e-5, atol=1e-5)
    # a one-hot-like distribution has the value of its bin
    peaked = np.full((1, len(BINS)), -1e4, np.float32)
    peaked[0, 70] = 0.0
    np.testing.assert_allclose(categorical.mean(jnp.asarray(peaked), BINS), [BINS[70]], atol=1e-6)
