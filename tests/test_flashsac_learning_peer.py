"""benchmarks/peers/flashsac_learning.py's JSON, with a fake run in place of the official
code (torch is not needed): curves merge per task and seed, a killed run keeps its curve
as unfinished and out of the means, a finished seed is skipped, other settings refuse;
and the env half of its checkpoints (official_checkpoint.py) continues an env exactly."""

import importlib.util
import json
from pathlib import Path

import numpy as np
import pytest

from tests.benchmark_scripts import BENCHMARKS


@pytest.fixture
def peer():
    path = BENCHMARKS / "peers" / "flashsac_learning.py"
    spec = importlib.util.spec_from_file_location("flashsac_learning_peer", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def fake_run(calls: list, crash_after: int | None = None):
    """Evaluates every ``--eval-every`` steps with return = step + seed; with
    ``crash_after``, dies after that many evaluations as a killed process would."""

    def run(args, task, seed, on_eval):
        calls.append((task, seed))
        curve = []
        for i, step in enumerate(range(args.eval_every, args.steps + 1, args.eval_every)):
            if crash_after is not None and i == crash_after:
                raise KeyboardInterrupt
            curve.append((step, float(step + seed)))
            on_eval(list(curve), {"wall_s": 1.0, "machine": "cpu"}, step == args.steps)

    return run


ARGS = ["--steps", "30", "--eval-every", "10", "--warmup", "5"]


def test_seeds_merge_into_learning_py_layout(peer, tmp_path):
    out = tmp_path / "official.json"
    calls = []
    for seed in (0, 2):  # one seed per invocation
        argv = [*ARGS, "--tasks", "Hopper-v4", "--seeds", str(seed), "--out", str(out)]
        peer.main(argv, run=fake_run(calls))
    data = json.loads(out.read_text())
    assert data["preset"] == "official-flashsac-c128-a64" and data["steps"] == 30
    assert data["algos"] == ["flashsac"] and data["seeds"] == [0, 2]
    assert "agent.critic_hidden_dim=128" in data["overrides"]
    assert "agent.actor_hidden_dim=64" in data["overrides"]
    assert "agent.buffer_min_length=5" in data["overrides"]
    entry = data["tasks"]["Hopper-v4"]["flashsac"]
    assert entry["per_seed"]["2"] == [[10, 12.0], [20, 22.0], [30, 32.0]]
    assert [(r["env_step"], r["mean"], r["std"], r["n"]) for r in entry["curve"]] == [
        (10, 11.0, 1.0, 2),
        (20, 21.0, 1.0, 2),
        (30, 31.0, 1.0, 2),
    ]
    assert entry["partial"] == {} and entry["runs"]["0"]["finished"] is True
    assert data["wall_clock_s"] == 2.0  # the runs' wall_s (the fake's 1 s each), summed
    # a finished seed is skipped
    peer.main([*ARGS, "--tasks", "Hopper-v4", "--seeds", "0", "2", "--out", str(out)],
              run=fake_run(calls))  # fmt: skip
    assert calls == [("Hopper-v4", 0), ("Hopper-v4", 2)]


def test_a_killed_run_keeps_its_curve_unfinished_and_restarts(peer, tmp_path):
    out = tmp_path / "official.json"
    argv = [*ARGS, "--tasks", "HalfCheetah-v4", "Hopper-v4", "--seeds", "1", "--out", str(out)]
    peer.main(argv[:-4] + ["--tasks", "Hopper-v4", "--seeds", "1", "--out", str(out)],
              run=fake_run([]))  # fmt: skip
    with pytest.raises(KeyboardInterrupt):
        peer.main(argv, run=fake_run([], crash_after=2))
    data = json.loads(out.read_text())
    cheetah = data["tasks"]["HalfCheetah-v4"]["flashsac"]
    assert cheetah["partial"] == {"1": [[10, 11.0], [20, 21.0]]}
    assert cheetah["per_seed"] == {} and cheetah["curve"] == []
    assert cheetah["runs"]["1"]["finished"] is False
    assert data["tasks"]["Hopper-v4"]["flashsac"]["per_seed"]["1"][-1] == [30, 31.0]
    # the same command runs the unfinished one again from step 0, skips the finished one
    calls = []
    peer.main(argv, run=fake_run(calls))
    assert calls == [("HalfCheetah-v4", 1)]
    cheetah = json.loads(out.read_text())["tasks"]["HalfCheetah-v4"]["flashsac"]
    assert cheetah["partial"] == {} and cheetah["runs"]["1"]["finished"] is True
    assert cheetah["curve"][-1]["mean"] == 31.0


def test_other_settings_do_not_merge(peer, tmp_path):
    out = tmp_path / "official.json"
    peer.main([*ARGS, "--seeds", "0", "--out", str(out)], run=fake_run([]))
    before = out.read_text()
    with pytest.raises(SystemExit, match="other settings"):
        peer.main([*ARGS, "--critic-width", "256", "--out", str(out)], run=fake_run([]))
    with pytest.raises(ValueError, match="other settings"):
        head = {"preset": "x", "steps": 30, "overrides": [], "eval_every": 10}
        peer.merge(out, {**head, "eval_episodes": 10, "meta": {}}, "T", 0, [], {}, True)
    assert out.read_text() == before


def test_the_checkpoint_folder_defaults_beside_the_output(peer, tmp_path):
    seen = []

    def run(args, task, seed, on_eval):
        seen.append(peer.checkpoint_path(args, task, seed))

    peer.main([*ARGS, "--tasks", "Hopper-v4", "--out", str(tmp_path / "o.json")], run=run)
    peer.main([*ARGS, "--out", str(tmp_path / "o.json"), "--checkpoints", "ck"], run=run)
    assert seen == [
        tmp_path / ".o_checkpoints" / "Hopper-v4-seed0.pkl",
        Path("ck") / "HalfCheetah-v4-seed0.pkl",
    ]


def _official_like_env():
    """One HalfCheetah-v4 in a SyncVectorEnv as the official create_vec_env makes it
    (short episodes, so that a time-limit reset falls inside the compared steps)."""
    import gymnasium as gym
    from gymnasium.vector import SyncVectorEnv
    from gymnasium.wrappers import RescaleAction, TimeLimit

    def make():
        env = RescaleAction(gym.make("HalfCheetah-v4"), -1.0, 1.0)
        return TimeLimit(env, 25)

    return SyncVectorEnv([make], autoreset_mode=gym.vector.AutoresetMode.SAME_STEP)


def _trace(env, steps: int):
    out = []
    for _ in range(steps):
        obs, reward, terminated, truncated, info = env.step(env.action_space.sample())
        out.append((obs.copy(), reward.copy(), truncated.copy()))
    return out


def test_an_official_env_continues_from_its_saved_state():
    """official_checkpoint's env part (the agent is pickled whole): a freshly made and
    differently seeded env, given the saved state, steps as the original goes on,
    through a time-limit reset and with actions from the restored action space."""
    pytest.importorskip("mujoco")
    path = BENCHMARKS / "peers" / "official_checkpoint.py"
    spec = importlib.util.spec_from_file_location("official_checkpoint", path)
    checkpoint = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(checkpoint)

    env = _official_like_env()
    env.reset(seed=3)
    env.action_space.seed(3)
    _trace(env, 15)
    state = checkpoint.env_state(env)
    assert state["envs"][0]["wrappers"]  # TimeLimit's count, at least
    ahead = _trace(env, 20)
    fresh = _official_like_env()
    fresh.reset(seed=9)
    fresh.action_space.seed(9)
    checkpoint.set_env_state(fresh, state)
    again = _trace(fresh, 20)
    assert any(t.any() for _, _, t in ahead)  # the episode ended in between
    for (o1, r1, t1), (o2, r2, t2) in zip(ahead, again, strict=True):
        np.testing.assert_array_equal(o1, o2)
        np.testing.assert_array_equal(r1, r2)
        np.testing.assert_array_equal(t1, t2)
    env.close()
    fresh.close()
