"""The device loop and its JAX envs: auto-reset, replay contents, resume, seeds, learning."""

from __future__ import annotations

import dataclasses
import json

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import struct
from tiny_config import LEARNING_AGENT, tiny
from toy_tasks import registered

from simbarl.envs import device_tasks
from simbarl.envs.vector_jax import VecEnv, run_episodes
from simbarl.replay.memory import check_replay_fits, replay_bytes
from simbarl.runs.metrics import read_metrics
from simbarl.train.run import train


@struct.dataclass
class CounterState:
    obs: jnp.ndarray  # (2,): steps taken in the episode, the episode's start label
    reward: jnp.ndarray
    done: jnp.ndarray


class Counter:
    """obs = (steps so far, label drawn at reset); reward 1 per step; the episode
    terminates when the first action component exceeds 0.9."""

    observation_size = 2
    action_size = 1
    episode_length = 6

    def reset(self, key):
        label = jax.random.uniform(key, (), minval=1.0, maxval=2.0)
        return CounterState(jnp.stack([0.0, label]), jnp.zeros(()), jnp.zeros(()))

    def step(self, s, action):
        obs = s.obs.at[0].add(1.0)
        return CounterState(obs, jnp.ones(()), (action[0] > 0.9).astype(jnp.float32))


@pytest.fixture
def counter_task(monkeypatch):
    yield from registered(monkeypatch, Counter)


def _venv(n=3, length=4, repeat=1):
    return VecEnv(Counter(), n, length, repeat)


def test_auto_reset_keeps_the_final_observation_and_splits_the_flags():
    venv = _venv()
    state, obs = venv.reset(jax.random.PRNGKey(0))
    labels = np.asarray(obs[:, 1])
    step = jax.jit(venv.step)
    go, stop = jnp.zeros((3, 1)), jnp.array([[0.0], [1.0], [0.0]])
    out = step(state, go)  # t = 1
    out = step(out.state, stop)  # env 1 terminates at t = 2
    np.testing.assert_array_equal(out.terminated, [0, 1, 0])
    np.testing.assert_array_equal(out.truncated, [0, 0, 0])
    assert out.final_obs[1, 0] == 2 and out.final_obs[1, 1] == labels[1]
    assert out.obs[1, 0] == 0 and out.obs[1, 1] != labels[1]  # a new episode
    out = step(step(out.state, go).state, go)  # t = 4: the time limit
    np.testing.assert_array_equal(out.truncated, [1, 0, 1])
    np.testing.assert_array_equal(out.terminated, [0, 0, 0])
    np.testing.assert_array_equal(out.final_obs[:, 0], [4, 2, 4])
    np.testing.assert_array_equal(out.obs[:, 0], [0, 2, 0])
    np.testing.assert_array_equal(out.reward, [1, 1, 1])


def test_action_repeat_sums_rewards_and_stops_at_the_limit():
    venv = _venv(n=2, length=5, repeat=2)
    state, _ = venv.reset(jax.random.PRNGKey(1))
    out = venv.step(state, jnp.zeros((2, 1)))
    np.testing.assert_array_equal(out.reward, [2, 2])
    out = venv.step(venv.step(out.state, jnp.zeros((2, 1))).state, jnp.zeros((2, 1)))
    np.testing.assert_array_equal(out.reward, [1, 1])  # one raw step left of 5
    np.testing.assert_array_equal(out.truncated, [1, 1])
    np.testing.assert_array_equal(out.final_obs[:, 0], [5, 5])


def test_device_envs_map_onto_the_configs_or_the_tasks_own_bounds():
    """As the host loop's ``RescaleAction``: --action-low/high, else the task's own
    bounds (a ``brax:`` task's ctrlrange), else the actions as they are."""
    from simbarl.config import TrainConfig
    from simbarl.train.device import vec_env

    task = device_tasks.load_device_task("jax:PointMass")
    cfg = TrainConfig(env="jax:PointMass", action_repeat=1)
    assert vec_env(cfg, task, 2).low is None  # PointMass takes [-1, 1] itself
    own = dataclasses.replace(task, action_low=(-2.0, -0.5), action_high=(3.0, 0.5))
    venv = vec_env(cfg, own, 2)
    np.testing.assert_array_equal(venv.low, [-2.0, -0.5])
    np.testing.assert_array_equal(venv.high, [3.0, 0.5])
    state, _ = venv.reset(jax.random.PRNGKey(0))
    out = venv.step(state, jnp.array([[-1.0, 1.0], [1.0, 0.0]]))
    assert out.obs.shape == (2, task.obs_dim)
    narrow = dataclasses.replace(cfg, action_low=(-1.0, -0.25), action_high=(1.0, 0.25))
    np.testing.assert_array_equal(vec_env(narrow, own, 2).high, [1.0, 0.25])


def test_run_episodes_stops_counting_at_each_episode_end():
    venv = _venv(n=2, length=4)
    policy = lambda obs: jnp.where(obs[:, :1] >= 1, 1.0, 0.0) * jnp.array([[0.0], [1.0]])
    returns, lengths = run_episodes(venv, policy, jax.random.PRNGKey(0))
    np.testing.assert_array_equal(lengths, [4, 2])
    np.testing.assert_array_equal(returns, [4, 2])


def _device_cfg(tmp_path, name="run", **kw):
    base = dict(env="jax:PointMass", steps=1200, num_envs=4, warmup_steps=200, log_every=400)
    base.update(eval_every=600, eval_episodes=4)
    base.update(kw)
    return tiny(tmp_path, name, **base)


def _replay(run_dir):
    with np.load(run_dir / "checkpoint.npz") as data:
        return {k.split(".")[1]: data[k] for k in data.files if k.startswith("replay.")}


def test_replay_holds_true_final_observations_across_auto_resets(tmp_path, counter_task):
    n = 3
    # random actions throughout (no update to compile): 5% of steps terminate
    cfg = _device_cfg(tmp_path, env=counter_task, steps=240, num_envs=n, warmup_steps=300)
    result = train(cfg)
    r = _replay(result.run_dir)
    assert len(r["reward"]) == 240
    obs, nxt = r["obs"].reshape(-1, n, 2), r["next_obs"].reshape(-1, n, 2)
    term, trunc = r["terminated"].reshape(-1, n), r["truncated"].reshape(-1, n)
    np.testing.assert_array_equal(nxt[..., 0], obs[..., 0] + 1)  # never a reset obs
    np.testing.assert_array_equal(nxt[..., 1], obs[..., 1])  # same episode's label
    ended = (term + trunc) > 0
    assert term.sum() > 0 and trunc.sum() > 0  # both kinds occurred
    np.testing.assert_array_equal(trunc > 0, (nxt[..., 0] == 6) & (term == 0))
    np.testing.assert_array_equal(term > 0, r["action"].reshape(-1, n) > 0.9)
    np.testing.assert_array_equal(obs[1:][ended[:-1]][:, 0], 0)  # next episode starts
    assert np.all(obs[1:][ended[:-1]][:, 1] != obs[:-1][ended[:-1]][:, 1])
    rows = read_metrics(result.run_dir)
    assert [r["env_step"] for r in rows if "eval/return" in r] == [240]


def _drop_env_state(run_dir) -> None:
    """Rewrite a checkpoint as an older simbarl wrote it: without the envs' state."""
    path = run_dir / "checkpoint.npz"
    with np.load(path) as data:
        arrays = {k: data[k] for k in data.files if not k.startswith("env[")}
    meta = json.loads(bytes(arrays["__meta__"]).decode())
    del meta["env_state"]
    arrays["__meta__"] = np.frombuffer(json.dumps(meta).encode(), np.uint8)
    np.savez(path, **arrays)


@pytest.mark.parametrize("seeds", [1, 2])
def test_device_resume_mid_episode_reproduces_uninterrupted_run(tmp_path, seeds):
    """The pause cuts PointMass episodes (100 steps; 75 taken) mid-way; the checkpoint's env
    state (and the observations, actions and returns in flight) lets them continue."""
    cfg = _device_cfg(tmp_path, "full", steps=600, eval_every=300, vmap_seeds=seeds)
    full = train(cfg)
    part_cfg = dataclasses.replace(cfg, run_dir=str(tmp_path / "part"))
    part = train(dataclasses.replace(part_cfg, pause_at=300))
    assert part.interrupted and part.env_step == 300
    resumed = train(part_cfg, resume=part.run_dir)
    runs = lambda r: [s.run_dir for s in r.seeds] if seeds > 1 else [r.run_dir]
    for a_dir, b_dir, part_dir in zip(runs(full), runs(resumed), runs(part), strict=True):
        with np.load(a_dir / "checkpoint.npz") as a, np.load(b_dir / "checkpoint.npz") as b:
            assert sorted(a.files) == sorted(b.files)
            assert any(k.startswith("env['state'].inner") for k in a.files)
            for k in a.files:
                np.testing.assert_array_equal(a[k], b[k], err_msg=k)
        with np.load(part_dir / "checkpoint.npz") as p:
            assert p["env['state'].t"].min() > 0  # every env was mid-episode at the pause
        rows = lambda d: [
            (r["env_step"], r.get("eval/return"), r.get("train/episode_return"))
            for r in read_metrics(d)
        ]
        assert rows(a_dir) == rows(b_dir)


def test_a_paused_device_run_resumes_to_its_budget(tmp_path, capsys):
    """From a checkpoint without the envs' state (an older simbarl's): the episodes
    restart, with a warning. Also with bfloat16 observations in the replay (float32
    in the checkpoint)."""
    cfg = _device_cfg(tmp_path, pause_at=600)
    cfg = dataclasses.replace(cfg, replay=dataclasses.replace(cfg.replay, obs_dtype="bfloat16"))
    first = train(cfg)
    assert first.interrupted and first.env_step == 600
    before = _replay(first.run_dir)
    assert before["obs"].dtype == np.float32
    rounded = np.asarray(jnp.asarray(before["obs"], jnp.bfloat16), np.float32)
    np.testing.assert_array_equal(before["obs"], rounded)  # stored at 8 significant bits
    _drop_env_state(first.run_dir)
    capsys.readouterr()
    result = train(dataclasses.replace(cfg, pause_at=None), resume=first.run_dir)
    assert "4 episode(s) in flight restart" in capsys.readouterr().err
    assert not result.interrupted and result.env_step == 1200
    assert [s for s, _ in result.eval_returns] == [1200]
    r = _replay(result.run_dir)
    assert len(r["reward"]) == 1200
    np.testing.assert_array_equal(r["obs"][:600], before["obs"])
    assert np.all(r["truncated"][596:600] == 1)  # episodes cut by the pause end there
    rows = read_metrics(result.run_dir)
    assert [r["env_step"] for r in rows if "eval/return" in r] == [600, 1200]


def test_vmapped_device_seeds_train_in_their_own_run_directories(tmp_path):
    result = train(_device_cfg(tmp_path, vmap_seeds=2, steps=800, eval_every=800))
    assert [r.run_dir.name for r in result.seeds] == ["seed0", "seed1"]
    for seed in result.seeds:
        assert (seed.run_dir / "checkpoint.npz").is_file()
        assert len(_replay(seed.run_dir)["reward"]) == 800
    a, b = (_replay(s.run_dir)["obs"] for s in result.seeds)
    assert not np.array_equal(a, b)


def test_tiny_agent_learns_point_mass_on_the_device(tmp_path):
    """Standing still scores about 25 and random play less; heading home about 95."""
    cfg = _device_cfg(
        tmp_path,
        steps=4000,
        warmup_steps=400,
        batch_size=64,
        eval_every=4000,
        eval_episodes=32,
        log_every=1000,
        agent=LEARNING_AGENT,
    )
    result = train(cfg)
    rows = read_metrics(result.run_dir)
    first_train = [r["train/episode_return"] for r in rows if "train/episode_return" in r][0]
    final = result.eval_returns[-1][1]
    assert final > 70, (first_train, final)
    assert final > first_train + 30


def test_replay_that_cannot_fit_is_refused_before_allocation(monkeypatch):
    import simbarl.replay.memory as memory

    nbytes = replay_bytes(1_000_000, 100, 10)
    assert nbytes == 1_000_000 * (2 * 100 * 4 + 4 * 13) + 8  # and the ring's two counters
    bf16 = replay_bytes(1_000_000, 100, 10, "bfloat16")
    assert bf16 == 1_000_000 * (2 * 100 * 2 + 4 * 13) + 8
    monkeypatch.setattr(memory, "free_bytes", lambda device=None: 2**29)
    with pytest.raises(ValueError, match="bfloat16"):
        check_replay_fits(nbytes)
    check_replay_fits(replay_bytes(1000, 100, 10))


def test_stop_at_return_ends_the_run_at_that_evaluation(tmp_path, counter_task):
    cfg = _device_cfg(
        tmp_path, env=counter_task, steps=240, num_envs=3, warmup_steps=300, eval_every=60
    )
    result = train(dataclasses.replace(cfg, stop_at_return=0.0))
    assert result.env_step == 60 and not result.interrupted
    assert [s for s, _ in result.eval_returns] == [60]
    assert len(_replay(result.run_dir)["reward"]) == 60


def test_device_runs_warm_start_with_a_dataset_shared_by_vmapped_seeds(tmp_path, monkeypatch):
    """--init-from on the device loop; the dataset rides in each seed's carry."""
    pytest.importorskip("minari")
    import json

    from simbarl.cli import main

    monkeypatch.setenv("MINARI_DATASETS_PATH", str(tmp_path / "datasets"))
    source = train(_device_cfg(tmp_path, "source", steps=400, eval_every=400)).run_dir
    assert main(["export-replay", str(source), "--name", "pm"]) == 0
    # stands in for a `simbarl offline` run on that dataset (offline.json names it)
    (source / "offline.json").write_text(json.dumps({"dataset": "simbarl/pm-v0"}))
    cfg = _device_cfg(
        tmp_path, "ft", steps=400, eval_every=400, vmap_seeds=2, init_from=str(source)
    )
    result = train(dataclasses.replace(cfg, init_data_ratio=0.5))
    for seed in result.seeds:
        assert [s for s, _ in seed.eval_returns] == [0, 400]  # step 0: the loaded policy
        assert len(_replay(seed.run_dir)["reward"]) == 400  # the dataset is not checkpointed


def test_auto_physics_backend_falls_back_to_jax_without_warp(monkeypatch):
    import importlib.util

    real_find_spec = importlib.util.find_spec
    monkeypatch.setattr(jax, "default_backend", lambda: "gpu")
    monkeypatch.setattr(importlib.util, "find_spec", lambda name: object())
    assert device_tasks.resolve_impl("auto") is None  # the task's own default (Warp)
    monkeypatch.setattr(
        importlib.util, "find_spec", lambda n: None if n == "warp" else real_find_spec(n)
    )
    assert device_tasks.resolve_impl("auto") == "jax"
    assert device_tasks.resolve_impl("warp") == "warp"
    monkeypatch.setattr(jax, "default_backend", lambda: "cpu")
    monkeypatch.setattr(importlib.util, "find_spec", lambda name: object())
    assert device_tasks.resolve_impl("auto") == "jax"
