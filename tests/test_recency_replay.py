"""Recency-weighted replay: exact age frequencies, the ring's slots, refusals, runs."""

from __future__ import annotations

import dataclasses
from functools import partial

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import tiny_config

from simbarl.config import ReplayConfig, TrainConfig, validate
from simbarl.replay import Transition, add, init_replay
from simbarl.replay.recency import recency_ages, recency_indices
from simbarl.runs import run_dir as rd
from simbarl.runs.metrics import read_metrics
from simbarl.train.run import train
from simbarl.train.step import draw, draw_mixed

DRAWS = 200_000


def expected(size: int, decay: int, floor: float) -> np.ndarray:
    """The specification, written out: weight max(w, 1 - a / N), normalized."""
    w = np.maximum(floor, 1.0 - np.arange(size) / decay)
    return w / w.sum()


def check_frequencies(ages: np.ndarray, p: np.ndarray) -> None:
    """Every age within 5 binomial sd of its probability, a chi-square far below what
    uniform draws give, and ages of zero weight never drawn."""
    n = ages.size
    counts = np.bincount(ages.ravel(), minlength=p.size)
    assert counts.size == p.size, "an age beyond the filled buffer was drawn"
    freq = counts / n
    sd = np.sqrt(p * (1 - p) / n)
    assert np.all(np.abs(freq - p) <= 5 * sd + 1e-12), np.abs(freq - p).max()
    assert np.all(counts[p == 0] == 0)
    pos = p > 0
    chi2 = ((counts[pos] - n * p[pos]) ** 2 / (n * p[pos])).sum()
    df = pos.sum() - 1
    assert chi2 <= df + 6 * np.sqrt(2 * df), (chi2, df)  # about 6 sd above its mean
    if p.max() > 1.5 * p.min():  # where the weights differ, uniform draws would fail
        uniform = np.full(p.size, n / p.size)
        chi2_uniform = ((uniform[pos] - n * p[pos]) ** 2 / (n * p[pos])).sum()
        assert chi2_uniform > 10 * (df + 6 * np.sqrt(2 * df))


@pytest.mark.parametrize(
    "size, decay, floor",
    [
        (50, 30, 0.0),  # ramp ends inside the buffer: ages >= 30 never drawn
        (64, 40, 0.2),  # a floor: old data stays in play
        (64, 25, 0.1),  # N (1 - w) = 22.5 is not an integer
        (64, 200, 0.0),  # N beyond the buffer: the ramp is cut by the size
        (7, 80_000, 0.05),  # an almost empty buffer early in a run
        (40, 10, 1.0),  # floor 1: uniform
        (1, 5, 0.0),
    ],
)
def test_age_frequencies_match_the_weights(size, decay, floor):
    sampler = partial(recency_ages, shape=(4, DRAWS // 4), decay_steps=decay, min_weight=floor)
    ages = jax.jit(sampler)(jax.random.PRNGKey(size + decay), size=jnp.asarray(size))
    assert ages.shape == (4, DRAWS // 4) and ages.dtype == jnp.int32
    check_frequencies(np.asarray(ages), expected(size, decay, floor))


def test_large_buffer_ages_stay_in_range_without_int32_overflow():
    """K (K - 1) / 2 exceeds int32 for a million-slot ramp; the masses are floats."""
    ages = np.asarray(recency_ages(jax.random.PRNGKey(0), (100_000,), 1_000_000, 800_000, 0.0))
    assert ages.min() >= 0 and ages.max() < 800_000
    # mean of the triangle-ish law over [0, 800k): about N / 3
    assert abs(ages.mean() / 800_000 - 1 / 3) < 0.01


def _ring(capacity: int, writes: int, num_envs: int):
    """A ring written ``num_envs`` at a time; each reward is its write number."""
    buf = init_replay(capacity, 1, 1)
    f = lambda a: jnp.asarray(a, jnp.float32)
    for t in range(0, writes, num_envs):
        r = np.arange(t, t + num_envs)
        z = np.zeros(num_envs)
        buf = add(buf, Transition(f(r[:, None]), f(z[:, None]), f(r), f(r[:, None]), f(z), f(z)))
    return buf


@pytest.mark.parametrize(
    "capacity, writes, num_envs",
    [(30, 20, 1), (30, 77, 1), (24, 90, 3)],  # partly filled; wrapped; wrapped, 3 envs
)
def test_slots_of_a_ring_are_drawn_by_write_order(capacity, writes, num_envs):
    buf = _ring(capacity, writes, num_envs)
    size, decay, floor = min(writes, capacity), 18, 0.1
    idx = jax.jit(recency_indices, static_argnums=(2, 3, 4))(
        buf, jax.random.PRNGKey(1), (DRAWS,), decay, floor
    )
    ages = (writes - 1) - np.asarray(buf.data.reward)[np.asarray(idx)].astype(int)
    check_frequencies(ages, expected(size, decay, floor))


def test_vmapped_buffers_each_draw_from_their_own_fill():
    a, b = _ring(16, 5, 1), _ring(16, 40, 1)
    both = jax.tree.map(lambda x, y: jnp.stack([x, y]), a, b)
    keys = jax.random.split(jax.random.PRNGKey(2), 2)
    idx = jax.jit(jax.vmap(partial(recency_indices, shape=(DRAWS,), decay_steps=8, min_weight=0)))(
        both, keys
    )
    for buf, writes, slots in ((a, 5, idx[0]), (b, 40, idx[1])):
        ages = (writes - 1) - np.asarray(buf.data.reward)[np.asarray(slots)].astype(int)
        check_frequencies(ages, expected(min(writes, 16), 8, 0.0))


def test_n_step_windows_are_cut_at_the_newest_data_as_with_uniform_draws():
    """Two envs, five steps each; N = 4 draws only the last two steps, whose windows
    run past the newest transition and stop there."""
    buf = _ring(64, 10, 2)
    replay = ReplayConfig(n_step=3, recency_decay_steps=4)
    tr, horizon, idx, weight = draw(buf, jax.random.PRNGKey(3), (1000,), replay, 0.9, 2, 1.0)
    age = 9 - np.asarray(idx)  # slot i was write i: age 9 - i
    assert weight is None and set(np.unique(age)) == {0, 1, 2, 3}
    np.testing.assert_array_equal(np.asarray(horizon), np.where(age < 2, 1, 2))
    want = np.where(age < 2, 9 - age, (9 - age) + 0.9 * (11 - age))  # reward = write number
    np.testing.assert_allclose(np.asarray(tr.reward), want, rtol=1e-6)


def test_a_dataset_beside_the_ring_is_drawn_uniformly():
    """--init-data-ratio: the online rows by recency, the dataset rows uniformly."""
    online, dataset = _ring(64, 64, 1), _ring(100, 100, 1)
    replay = ReplayConfig(recency_decay_steps=8)
    tr, _, idx, _ = draw_mixed(
        online, dataset, 0.5, jax.random.PRNGKey(4), (2, 500), replay, 0.9, 1, 1.0
    )
    assert idx.shape == (2, 250) and np.all(63 - np.asarray(idx) < 8)
    from_data = np.asarray(tr.reward[:, 250:]).astype(int)
    counts = np.bincount(from_data.ravel(), minlength=100)
    assert counts.size == 100 and (counts > 0).sum() > 90  # spread over the whole dataset


def test_offline_training_refuses_recency_sampling():
    from simbarl.datasets import EnvSpec
    from simbarl.offline.trainer import OfflineConfig, _train_config

    ocfg = OfflineConfig(dataset="d", overrides=("replay.recency_decay_steps=100",))
    with pytest.raises(ValueError, match="not supported offline"):
        _train_config(ocfg, EnvSpec("Pendulum-v1", 1), 10)


def test_prioritized_and_recency_are_refused_together_naming_the_flags():
    cfg = TrainConfig(replay=ReplayConfig(prioritized=True, recency_decay_steps=1000))
    with pytest.raises(ValueError) as e:
        validate(cfg)
    assert "--replay.recency-decay-steps" in str(e.value)
    assert "--replay.prioritized" in str(e.value)


@pytest.mark.parametrize(
    "replay, flag",
    [
        (ReplayConfig(recency_decay_steps=-1), "--replay.recency-decay-steps must be >= 0"),
        (ReplayConfig(recency_decay_steps=10, recency_min_weight=1.5), "in [0, 1]"),
        (ReplayConfig(recency_min_weight=0.1), "only acts with --replay.recency-decay-steps"),
    ],
)
def test_bad_recency_settings_are_refused(replay, flag):
    with pytest.raises(ValueError, match=flag.replace("[", r"\[").replace("]", r"\]")):
        validate(TrainConfig(replay=replay))


def test_the_cli_refuses_the_combination_before_any_work(tmp_path, capsys):
    from simbarl.cli import main

    run = tmp_path / "x"
    argv = ["train", "--replay.prioritized", "--replay.recency-decay-steps", "500"]
    assert main([*argv, "--run-dir", str(run)]) == 2
    err = capsys.readouterr().err
    assert "--replay.prioritized" in err and not run.exists()


# ------------------------------------------------------------------ training runs

RECENCY = ReplayConfig(n_step=3, recency_decay_steps=150, recency_min_weight=0.1)


def _pendulum(path, **kw) -> TrainConfig:
    small = dict(env="Pendulum-v1", steps=400, batch_size=16, warmup_steps=100, replay=RECENCY)
    return tiny_config.tiny(path.parent, path.name, **small, eval_every=200, log_every=200, **kw)


def _learner(run_dir):
    with np.load(run_dir / rd.CHECKPOINT_FILE) as data:
        return {k: data[k] for k in data.files if k.startswith("learner")}


def test_host_loop_vmapped_seeds_train_and_resume_bit_for_bit(tmp_path):
    """n-step recency replay in the host loop, two vmapped seeds, paused and resumed:
    the sampler is stateless given the ring's pointer and the key."""
    full = train(_pendulum(tmp_path / "full", vmap_seeds=2))
    for seed in full.seeds:
        rows = read_metrics(seed.run_dir)
        losses = [r["train/critic/loss"] for r in rows if "train/critic/loss" in r]
        assert losses and np.all(np.isfinite(losses))
        assert rd.load_config(seed.run_dir).replay == RECENCY
    part = train(_pendulum(tmp_path / "part", vmap_seeds=2, pause_at=200))
    assert part.interrupted and part.env_step == 200
    resumed = train(_pendulum(tmp_path / "part", vmap_seeds=2), resume=tmp_path / "part")
    assert resumed.env_step == 400 and not resumed.interrupted
    for seed in ("seed0", "seed1"):
        a, b = _learner(tmp_path / "full" / seed), _learner(tmp_path / "part" / seed)
        for k in a:
            np.testing.assert_array_equal(a[k], b[k], err_msg=f"{seed} {k}")


def test_device_loop_trains_with_recency_replay(tmp_path):
    cfg = tiny_config.tiny(
        tmp_path,
        env="jax:PointMass",
        steps=800,
        num_envs=4,
        warmup_steps=200,
        eval_every=800,
        eval_episodes=4,
        log_every=400,
        replay=dataclasses.replace(RECENCY, recency_decay_steps=300),
    )
    result = train(cfg)
    assert result.env_step == 800 and not result.interrupted
    rows = read_metrics(result.run_dir)
    losses = [r["train/critic/loss"] for r in rows if "train/critic/loss" in r]
    assert losses and np.all(np.isfinite(losses))
