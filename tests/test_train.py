"""End-to-end tests of the host loop: learning, checkpoints, resume, bad input."""

import dataclasses
import json

import jax
import numpy as np
import pytest
from tiny_config import LEARNING_AGENT, TINY_FLASHSAC_AGENT, tiny

from simbarl.config import ReplayConfig
from simbarl.runs import run_dir as rd
from simbarl.runs.metrics import read_metrics
from simbarl.train.run import train

# one env, as a Gymnasium task on the host (device tasks default to 16)
POINT_MASS_ON_THE_HOST = {"env": "jax:PointMass", "steps": 400, "eval_every": 250, "num_envs": 1}
POINT_MASS_ON_THE_HOST["engine"] = "host"


def _load_ckpt(run_dir):
    with np.load(run_dir / rd.CHECKPOINT_FILE) as data:
        return {k: data[k] for k in data.files}


@pytest.mark.parametrize(
    "options, pause",
    [
        ({}, 1000),
        ({"algo": "td3", "replay": ReplayConfig(n_step=3, prioritized=True)}, 700),
        ({"overlap": True, "replay": ReplayConfig(prioritized=True)}, 700),
        ({"env": "HalfCheetah-v5", "steps": 400, "eval_every": 200, "log_every": 100}, 200),
        (POINT_MASS_ON_THE_HOST, 250),
        (
            POINT_MASS_ON_THE_HOST | {"algo": "flashsac", "agent": TINY_FLASHSAC_AGENT},
            250,
        ),
    ],
    ids=[
        "sac-dmc",
        "td3-prioritized-3step-dmc",
        "sac-overlap-prioritized-dmc",
        "sac-mujoco",
        "sac-jax-on-the-host",
        "flashsac-held-noise-jax-on-the-host",
    ],
)
def test_resume_reproduces_uninterrupted_run(tmp_path, options, pause):
    # DMC episodes are 500 agent steps (1000 env steps): the pause at 1000 falls on an
    # episode boundary, the others mid-episode (HalfCheetah's are 1000 steps, PointMass's
    # 100 or fewer), where the checkpoint's env state lets the episodes continue. Either
    # way the resumed run must match the uninterrupted one bit for bit.
    if options.get("env", "dmc:").startswith("dmc:"):
        pytest.importorskip("dm_control", reason="dm_control is not installed")
    elif options["env"] == "HalfCheetah-v5":
        pytest.importorskip("mujoco", reason="gymnasium[mujoco] is not installed")
    options = dict(options)
    engine = options.pop("engine", None)
    run = lambda name, resume=None, **kw: train(
        tiny(tmp_path, name, **options, **kw), resume=resume, engine=engine
    )
    full = run("full")
    part = run("part", pause_at=pause)
    assert part.interrupted and part.env_step == pause
    ckpt = _load_ckpt(part.run_dir)
    mid_episode = not ckpt["loop['at_episode_start']"].all()
    assert mid_episode == (pause != 1000)
    resumed = run("part", resume=part.run_dir)
    assert resumed.env_step == full.env_step
    a, b = _load_ckpt(full.run_dir), _load_ckpt(resumed.run_dir)
    assert a.keys() == b.keys()
    assert any(k.startswith("env[") for k in a)  # the envs' state is in the checkpoint
    for k in a:
        np.testing.assert_array_equal(a[k], b[k], err_msg=k)
    evals = lambda d: [r for r in read_metrics(d) if "eval/return" in r]
    assert evals(full.run_dir) == evals(resumed.run_dir)  # no duplicated rows either
    returns = lambda d: [r.get("train/episode_return") for r in read_metrics(d)]
    assert returns(full.run_dir) == returns(resumed.run_dir)


def test_a_task_whose_state_cannot_be_saved_restarts_its_episodes(tmp_path, capsys):
    """Pendulum (classic control) has no state simbarl reads: the resume says so in
    one line, restarts the episode cut by the pause and marks its last step truncated."""
    cfg = tiny(tmp_path, env="Pendulum-v1", steps=400, eval_every=300, warmup_steps=100)
    part = train(dataclasses.replace(cfg, pause_at=300))  # Pendulum's episodes: 200 steps
    ckpt = _load_ckpt(part.run_dir)
    assert not any(k.startswith("env[") for k in ckpt)
    assert ckpt["replay.truncated"][-1] == 0
    capsys.readouterr()
    resumed = train(cfg, resume=part.run_dir)
    err = capsys.readouterr().err
    assert "holds no state of the Pendulum-v1 envs" in err and "1 episode(s)" in err
    assert len(err.strip().splitlines()) == 1
    assert resumed.env_step == 400
    assert _load_ckpt(resumed.run_dir)["replay.truncated"][299] == 1


def test_checkpoint_round_trip(tmp_path):
    from simbarl.runs.load import load_agent

    result = train(tiny(tmp_path, steps=600, eval_every=600))
    agent = load_agent(result.run_dir)
    assert agent.env_step == 600
    ckpt = _load_ckpt(result.run_dir)
    leaves = jax.tree_util.tree_flatten_with_path(agent.learner)[0]
    for path, leaf in leaves:
        np.testing.assert_array_equal(ckpt["learner" + jax.tree_util.keystr(path)], leaf)
    obs = np.zeros(5, np.float32)
    action = agent.act(obs)
    assert action.shape == (1,) and np.all(np.abs(action) <= 1)
    assert agent.act(np.zeros((3, 5))).shape == (3, 1)


def test_run_dir_layout(tmp_path):
    result = train(tiny(tmp_path, steps=1000, eval_every=500, tensorboard=True))
    d = result.run_dir
    cfg = json.loads((d / "config.json").read_text())
    assert cfg["agent"]["discount"] == pytest.approx(0.99)  # resolved from the suite
    assert cfg["action_repeat"] == 2 and cfg["agent"]["clipped_double_q"] is False
    rows = read_metrics(d)
    evals = [r for r in rows if "eval/return" in r]
    assert [r["env_step"] for r in evals] == [500, 1000]
    train_rows = [r for r in rows if "train/critic/loss" in r]
    assert train_rows and all(np.isfinite(r["train/critic/loss"]) for r in train_rows)
    assert any(p.name.startswith("events") for p in (d / "tb").iterdir())
    assert not list(d.glob("*.tmp"))


@pytest.mark.parametrize(
    "kw, message",
    [
        (dict(env="dmc:cartpole-swingupp"), "dmc:cartpole-swingup"),
        (dict(env="HalfCheetah-v9"), "HalfCheetah-v5"),
        (dict(steps=-5), "--steps must be positive"),
        (dict(batch_size=0), "--batch-size must be positive"),
    ],
)
def test_bad_input_fails_before_writing(tmp_path, kw, message):
    cfg = tiny(tmp_path, **kw)
    with pytest.raises(ValueError, match=message):
        train(cfg)
    assert not (tmp_path / "run").exists()


def test_mismatched_resume_is_refused(tmp_path):
    result = train(tiny(tmp_path, steps=400, eval_every=400))
    before = _load_ckpt(result.run_dir)
    other = dataclasses.replace(tiny(tmp_path), env="dmc:cartpole-balance")
    with pytest.raises(ValueError, match="different configuration"):
        train(other, resume=result.run_dir)
    with pytest.raises(ValueError, match="not a simbarl run directory"):
        train(tiny(tmp_path), resume=tmp_path / "nowhere")
    with pytest.raises(ValueError, match="already holds files"):
        train(tiny(tmp_path))
    after = _load_ckpt(result.run_dir)
    assert all(np.array_equal(before[k], after[k]) for k in before)
    (result.run_dir / rd.CHECKPOINT_FILE).write_bytes(b"not a checkpoint")
    with pytest.raises(ValueError, match="is damaged and cannot be read"):
        train(tiny(tmp_path, steps=400, eval_every=400), resume=result.run_dir)


@pytest.mark.parametrize("algo", ["sac", "td3", "ddpg", "tqc", "sac-overlap"])
def test_tiny_agent_learns_pendulum(tmp_path, algo):
    """Pendulum: random play scores about -1200; a learning agent far better."""
    cfg = tiny(
        tmp_path,
        algo=algo.removesuffix("-overlap"),
        overlap=algo.endswith("-overlap"),
        env="Pendulum-v1",
        steps=5000,
        warmup_steps=500,
        eval_every=5000,
        eval_episodes=5,
        batch_size=64,
        agent=LEARNING_AGENT,
    )
    result = train(cfg)
    first_train = [
        r["train/episode_return"]
        for r in read_metrics(result.run_dir)
        if "train/episode_return" in r
    ][0]
    final = result.eval_returns[-1][1]
    assert final > -600, (first_train, final)
    assert final > first_train + 400
