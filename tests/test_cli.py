"""The command line: train, resume, eval (and video when headless GL exists), errors."""

import ctypes.util
import os
import subprocess
import sys

import pytest

from simbarl.cli import main
from simbarl.runs.metrics import read_metrics

TINY = [
    "--env",
    "dmc:cartpole-swingup",
    "--warmup-steps",
    "200",
    "--batch-size",
    "32",
    "--updates-per-step",
    "1",
    "--agent.actor.width",
    "16",
    "--agent.critic.width",
    "32",
    "--agent.critic.num-blocks",
    "1",
    "--eval-episodes",
    "1",
    "--log-every",
    "500",
    "--no-progress",
    "--no-tensorboard",
]


def test_train_resume_eval(tmp_path, capsys):
    run = str(tmp_path / "run")
    assert (
        main(
            [
                "train",
                *TINY,
                "--algo",
                "tqc",
                "--reset-at",
                "700",
                "--steps",
                "1000",
                "--eval-every",
                "500",
                "--pause-at",
                "500",
                "--run-dir",
                run,
            ]
        )
        == 130
    )
    assert "simbarl train --resume" in capsys.readouterr().err
    assert main(["train", "--resume", run]) == 0
    evals = [r["env_step"] for r in read_metrics(run) if "eval/return" in r]
    assert evals == [500, 1000]
    assert [r["env_step"] for r in read_metrics(run) if "train/reset" in r] == [700]
    assert main(["eval", run, "--episodes", "2"]) == 0
    out = capsys.readouterr().out
    assert "over 2 episodes" in out and "@ 1000 env steps" in out


def test_a_stop_without_checkpoint_says_it_cannot_be_resumed(tmp_path, capsys):
    run = tmp_path / "run"
    args = ["--steps", "1000", "--eval-every", "500", "--pause-at", "500", "--no-checkpoint"]
    assert main(["train", *TINY, *args, "--run-dir", str(run)]) == 130
    err = capsys.readouterr().err
    assert "stopped at 500 env steps; no checkpoint (--no-checkpoint)" in err
    assert "--resume" not in err
    assert not list(run.glob("checkpoint*"))
    assert [r["env_step"] for r in read_metrics(run) if "eval/return" in r] == [500]


@pytest.mark.skipif(
    not (ctypes.util.find_library("OSMesa") or ctypes.util.find_library("EGL")),
    reason="no headless OpenGL (apt-get install libosmesa6)",
)
def test_eval_video(tmp_path):
    run = str(tmp_path / "run")
    args = ["--algo", "td3", "--steps", "400", "--eval-every", "400", "--run-dir", run]
    assert main(["train", *TINY, *args]) == 0
    video = tmp_path / "episode.mp4"
    # A fresh process: the GL backend is chosen before dm_control is first imported.
    cmd = [
        sys.executable,
        "-m",
        "simbarl.cli",
        "eval",
        run,
        "--episodes",
        "1",
        "--max-steps",
        "60",
        "--video",
        str(video),
    ]
    env = {k: v for k, v in os.environ.items() if k != "MUJOCO_GL"}
    done = subprocess.run(cmd, check=True, env=env, capture_output=True, text=True)
    assert video.stat().st_size > 1000
    assert "os.fork()" not in done.stderr  # ffmpeg's fork-exec is no deadlock: not reported


def test_errors_are_clear(tmp_path, capsys):
    assert main(["train", "--env", "dmc:cartpole-swingupp", "--run-dir", str(tmp_path / "x")]) == 2
    assert "Did you mean: dmc:cartpole-swingup" in capsys.readouterr().err
    assert not (tmp_path / "x").exists()
    assert main(["train", "--preset", "simbav3"]) == 2
    assert "unknown preset" in capsys.readouterr().err
    assert main(["train", "--resume", str(tmp_path / "missing")]) == 2
    assert main(["eval", str(tmp_path / "missing")]) == 2
    assert main(["frobnicate"]) == 2
    with pytest.raises(SystemExit):
        main(["train", "--algo", "ppo", "--run-dir", str(tmp_path / "y")])
    assert "ppo" in capsys.readouterr().err and not (tmp_path / "y").exists()
    assert main([]) == 0


def test_ctrl_c_checkpoints_and_resumes(tmp_path):
    """SIGINT mid-run writes a checkpoint and exits 130; the run then resumes mid-episode."""
    import json
    import signal
    import time

    from simbarl.runs.checkpoint import read_meta

    run = tmp_path / "run"
    cmd = [
        sys.executable,
        "-m",
        "simbarl.cli",
        "train",
        *TINY,
        "--steps",
        "100000",
        "--eval-every",
        "100000",
        "--log-every",
        "100",
        "--run-dir",
        str(run),
    ]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    metrics, deadline = run / "metrics.jsonl", time.time() + 300
    while time.time() < deadline and proc.poll() is None:
        rows = metrics.read_text().splitlines() if metrics.exists() else []
        if any("train/critic/loss" in r for r in rows):  # learning has started
            break
        time.sleep(0.5)
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 130, err
    assert "simbarl train --resume" in err
    meta = read_meta(run / "checkpoint.npz")
    assert meta["env_step"] >= 200 and meta["replay_size"] == meta["env_step"] // 2
    # Continue a little past the interruption, mid-episode (episodes are 1000 env steps).
    target = meta["env_step"] + 100
    assert main(["train", "--resume", str(run), "--steps", str(target)]) == 0
    rows = [json.loads(r) for r in metrics.read_text().splitlines()]
    assert rows[-1]["env_step"] == target and "eval/return" in rows[-1]
