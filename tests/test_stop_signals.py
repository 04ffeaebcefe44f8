"""Ctrl-C and SIGTERM at any moment of ``simbarl train``: one sentence saying what is
left and what to do, exit status 130, never a traceback.

Each case runs ``simbarl train`` in a process of its own, with one function wrapped
so that the signals arrive at a known moment (the process sends them to itself).
"""

import os
import subprocess
import sys

import pytest

from simbarl.runs.checkpoint import read_meta

# Wraps MODULE.NAME so that calling it first sends SIGNALS (comma-separated) to this
# process, then runs `simbarl ARGV...`.
SCRIPT = """
import importlib, os, signal, sys
module, name, signals = sys.argv[1:4]
mod = importlib.import_module(module)
real = getattr(mod, name)
def wrapped(*args, **kwargs):
    for s in signals.split(","):
        os.kill(os.getpid(), getattr(signal, s))
    return real(*args, **kwargs)
setattr(mod, name, wrapped)
from simbarl.cli import main
sys.exit(main(sys.argv[4:]))
"""

TRAIN = ["train", "--env", "Pendulum-v1", "--steps", "400", "--warmup-steps", "100"]
TRAIN += ["--eval-every", "200", "--log-every", "200", "--eval-episodes", "1"]
TRAIN += ["--batch-size", "16", "--updates-per-step", "1", "--agent.actor.width", "16"]
TRAIN += ["--agent.critic.width", "16", "--no-progress", "--no-tensorboard"]

# (id, what happens, what is left, the function the signals arrive in, the signals,
#  what the one line says)
CASES = [
    (
        "second-ctrl-c-while-writing",
        "a second Ctrl-C arrives while the first checkpoint is being written",
        "that checkpoint, whole: the run continues from it with --resume",
        ("numpy", "savez"),
        "SIGINT,SIGINT",
        "stopped at once by a second Ctrl-C; {run} keeps its last checkpoint",
    ),
    (
        "ctrl-c-at-start-up",
        "Ctrl-C while the envs are created, before training starts",
        "the run directory without a checkpoint: delete it and start again",
        ("simbarl.train.online", "EnvRunner"),
        "SIGINT",
        "stopped by Ctrl-C during start-up; {run} holds no checkpoint yet",
    ),
    (
        "sigterm-at-start-up",
        "SIGTERM while the envs are created, before training starts",
        "the run directory without a checkpoint: delete it and start again",
        ("simbarl.train.online", "EnvRunner"),
        "SIGTERM",
        "stopped by SIGTERM during start-up; {run} holds no checkpoint yet",
    ),
    (
        "sigterm-reading-flags",
        "SIGTERM while the command line is read",
        "nothing",
        ("simbarl.train.command", "start_config"),
        "SIGTERM",
        "simbarl train: stopped by SIGTERM",
    ),
]


@pytest.mark.parametrize(
    "what, left, where, signals, says", [c[1:] for c in CASES], ids=[c[0] for c in CASES]
)
def test_a_stop_signal_is_one_sentence(tmp_path, what, left, where, signals, says):
    run = tmp_path / "run"
    cmd = [sys.executable, "-c", SCRIPT, *where, signals, *TRAIN, "--run-dir", str(run)]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=300, env=os.environ)
    err = proc.stderr
    assert proc.returncode == 130, err
    assert "Traceback" not in err and err.count("\n") == 1, err
    assert says.format(run=run) in err, err
    if "checkpoint, whole" in left:
        assert read_meta(run / "checkpoint.npz")["env_step"] == 200
        assert f"continue with --resume {run}" in err
    elif "without a checkpoint" in left:
        assert (run / "config.json").is_file() and not (run / "checkpoint.npz").exists()
        assert f"rm -r {run}" in err
    else:
        assert not run.exists()
