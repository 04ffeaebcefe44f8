"""Nothing lost, nothing corrupted: run locks, SIGTERM, the saved budget, damaged files."""

import json
import os
import shutil
import signal
import subprocess
import sys
import time

import pytest

from simbarl.cli import main
from simbarl.config import AgentConfig, NetworkConfig, TrainConfig
from simbarl.runs import run_dir as rd
from simbarl.runs.checkpoint import read_meta
from simbarl.runs.load import load_agent
from simbarl.runs.lock import RunLocked, RunLocks, holder
from simbarl.runs.metrics import read_metrics
from simbarl.train.run import train

AGENT = AgentConfig(actor=NetworkConfig("simbav2", 16, 1), critic=NetworkConfig("simbav2", 16, 1))


def small(run_dir, **kw) -> TrainConfig:
    base = dict(
        env="Pendulum-v1",
        steps=400,
        batch_size=16,
        updates_per_step=1,
        warmup_steps=100,
        eval_every=200,
        eval_episodes=1,
        log_every=200,
        agent=AGENT,
        progress=False,
        tensorboard=False,
        run_dir=str(run_dir),
    )
    base.update(kw)
    return TrainConfig(**base)


@pytest.fixture(scope="module")
def finished(tmp_path_factory):
    """A finished 400-step run; tests copy it before changing it."""
    run = tmp_path_factory.mktemp("finished") / "run"
    train(small(run))
    return run


@pytest.fixture
def run(finished, tmp_path):
    copy = tmp_path / "run"
    shutil.copytree(finished, copy)
    (copy / ".lock").unlink(missing_ok=True)
    return copy


# 1. One trainer per run directory.


def test_a_locked_run_is_refused_naming_its_holder(run, tmp_path):
    fresh = tmp_path / "fresh"
    fresh.mkdir()
    with RunLocks() as locks:  # another open file: flock refuses it even in this process
        locks.hold(run)
        locks.hold(fresh)
        with pytest.raises(RunLocked, match=rf"pid {os.getpid()} on host"):
            train(small(run, steps=600), resume=run)
        with pytest.raises(RunLocked):
            train(small(fresh))
    assert not (fresh / "config.json").exists()
    assert read_meta(run / "checkpoint.npz")["env_step"] == 400


def test_a_killed_holders_lock_is_gone(tmp_path):
    run = tmp_path / "run"
    run.mkdir()
    code = (
        "import sys, time; from simbarl.runs.lock import RunLocks; "
        f"RunLocks().hold({str(run)!r}); print('held', flush=True); time.sleep(60)"
    )
    proc = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
    assert proc.stdout.readline().strip() == "held"
    assert holder(run) == f"pid {proc.pid} on host {os.uname().nodename}"
    proc.kill()  # kill -9: no handler runs
    proc.wait()
    assert holder(run) is None
    with RunLocks() as locks:
        locks.hold(run)


def test_stale_temporary_files_are_removed_on_the_next_start(run):
    stale = run / "checkpoint.npz.999999.tmp"
    stale.write_bytes(b"half a replay buffer")
    result = train(small(run, steps=600), resume=run)
    assert result.env_step == 600 and not stale.exists()


# 4. SIGTERM does what the first Ctrl-C does.


def test_sigterm_checkpoints_and_says_how_to_resume(tmp_path):
    run = tmp_path / "run"
    cmd = [sys.executable, "-m", "simbarl.cli", "train", "--env", "Pendulum-v1"]
    cmd += ["--warmup-steps", "100", "--batch-size", "16", "--updates-per-step", "1"]
    cmd += ["--agent.actor.width", "16", "--agent.critic.width", "16", "--eval-episodes", "1"]
    cmd += ["--steps", "100000", "--eval-every", "100000", "--log-every", "100"]
    cmd += ["--no-progress", "--no-tensorboard", "--run-dir", str(run)]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.time() + 300
    while time.time() < deadline and proc.poll() is None:
        if any("train/critic/loss" in r for r in read_metrics_rows(run)):
            break
        time.sleep(0.5)
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 130, err
    assert f"simbarl train --resume {run}" in err
    assert read_meta(run / "checkpoint.npz")["env_step"] >= 100


def read_metrics_rows(run):
    path = run / "metrics.jsonl"
    return path.read_text().splitlines() if path.exists() else []


# 5. A raised budget belongs to the run.


def test_a_raised_budget_is_kept_by_the_next_resume(run):
    result = train(small(run, steps=800, pause_at=600), resume=run)
    assert result.interrupted and read_meta(run / "checkpoint.npz")["env_step"] == 600
    assert rd.load_config(run).steps == 800
    assert main(["train", "--resume", str(run)]) == 0  # no --steps: the run's 800
    assert read_meta(run / "checkpoint.npz")["env_step"] == 800


def test_resuming_a_finished_run_reports_its_last_evaluation(run, capsys):
    assert main(["train", "--resume", str(run)]) == 0
    last = [r for r in read_metrics(run) if "eval/return" in r][-1]
    assert f"last eval return {last['eval/return']:.1f} (at 400)" in capsys.readouterr().out


# 6. Damaged files: one clear sentence, never a traceback.


def _set(dotted: str, value):
    """An edit of a config dict setting the field at ``dotted``."""

    def edit(d):
        *parents, last = dotted.split(".")
        node = d
        for p in parents:
            node = node[p]
        node[last] = value
        return d

    return edit


@pytest.mark.parametrize("damage", ["truncated", "empty", "bit-flipped"])
def test_a_damaged_checkpoint_is_one_clear_error(run, damage, capsys):
    path = run / "checkpoint.npz"
    data = bytearray(path.read_bytes())
    if damage == "truncated":
        data = data[: len(data) // 2]
    elif damage == "empty":
        data = bytearray()
    else:
        data[len(data) // 3] ^= 0xFF
    path.write_bytes(bytes(data))
    with pytest.raises(ValueError, match="checkpoint .* is damaged"):
        load_agent(run)
    assert main(["train", "--resume", str(run), "--steps", "600"]) == 2
    assert main(["eval", str(run), "--episodes", "1"]) == 2
    err = capsys.readouterr().err
    assert err.count("is damaged and cannot be read") == 2 and "Traceback" not in err


def test_a_run_killed_before_its_first_checkpoint_says_what_to_do(run, capsys):
    (run / "checkpoint.npz").unlink()
    assert main(["train", "--resume", str(run)]) == 2
    assert f"stopped before its first checkpoint. Delete it (rm -r {run})" in (
        capsys.readouterr().err
    )
    with pytest.raises(ValueError, match="stopped before its first checkpoint"):
        train(small(run))


def test_a_run_directory_that_is_a_file(tmp_path):
    (tmp_path / "run").write_text("not a directory")
    with pytest.raises(ValueError, match="is a file"):
        train(small(tmp_path / "run"))


# (id, what was done to config.json, what is left, edit, the field the message names)
CONFIG_EDITS = [
    ("unknown-key", "a key no config has", "the run, untouched", _set("colour", "red"), "colour"),
    (
        "text-number",
        "a string where a number belongs",
        "the run, untouched",
        _set("steps", "many"),
        "steps",
    ),
    ("not-json", "not JSON at all", "the run, untouched", None, "not valid JSON"),
    (
        "text-in-bounds",
        'action_low ["a"]: a string in a list of numbers',
        "the run, untouched",
        _set("action_low", ["a"]),
        "action_low",
    ),
    (
        "nan-learning-rate",
        "agent.learning_rate NaN",
        "the run, untouched",
        _set("agent.learning_rate", float("nan")),
        "--agent.learning-rate must be a finite number",
    ),
]


@pytest.mark.parametrize(
    "what, left, edit, message", [c[1:] for c in CONFIG_EDITS], ids=[c[0] for c in CONFIG_EDITS]
)
def test_a_broken_config_json_names_the_file(run, what, left, edit, message, capsys):
    path = run / "config.json"
    d = json.loads(path.read_text())
    path.write_text("{broken" if edit is None else json.dumps(edit(d)))
    with pytest.raises(ValueError, match=message) as e:
        rd.load_config(run)
    assert str(path) in str(e.value)
    assert main(["train", "--resume", str(run)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and str(path) in err and message in err, err
    assert main(["eval", str(run), "--episodes", "1"]) == 2
    assert str(path) in capsys.readouterr().err


# (id, the command line, the flag its one-line error names)
NON_FINITE_FLAGS = [
    ("train-nan", ["train", "--agent.learning-rate", "nan"], "--agent.learning-rate"),
    ("train-inf", ["train", "--agent.tau", "inf"], "--agent.tau"),
    (
        "sweep-set-nan",
        ["sweep", "--tasks", "Pendulum-v1", "--set", "agent.learning_rate=NaN"],
        "--agent.learning-rate",
    ),
]


@pytest.mark.parametrize(
    "argv, flag", [c[1:] for c in NON_FINITE_FLAGS], ids=[c[0] for c in NON_FINITE_FLAGS]
)
def test_a_non_finite_number_is_refused_on_the_command_line(argv, flag, tmp_path, capsys):
    where = "--out" if argv[0] == "sweep" else "--run-dir"
    assert main([*argv, where, str(tmp_path / "x")]) == 2
    err = capsys.readouterr().err
    assert f"{flag} must be a finite number" in err and err.count("\n") == 1, err
    assert not (tmp_path / "x").exists()


def test_a_partly_written_metrics_line_is_repaired_by_resume(run):
    with open(run / "metrics.jsonl", "a") as f:
        f.write('{"env_step": 400, "train/crit')  # a kill or a full disk mid-line
    assert read_metrics(run)[-1]["env_step"] == 400
    train(small(run, steps=600), resume=run)
    lines = (run / "metrics.jsonl").read_text().splitlines()
    assert all(json.loads(line) for line in lines) and json.loads(lines[-1])["env_step"] == 600


# 7. Wording.


def test_errors_name_flags_as_the_cli_spells_them(tmp_path, capsys):
    assert main(["train", "--batch-size", "0", "--run-dir", str(tmp_path / "x")]) == 2
    err = capsys.readouterr().err
    assert "--batch-size must be positive" in err and "--batch_size" not in err


def test_a_failed_write_names_the_run_to_resume(tmp_path, capsys, monkeypatch):
    """A full disk while logging ends in one sentence naming the run (it said
    ``--resume RUN``), without a traceback; what was written stays whole."""
    import errno

    from simbarl.runs.metrics import Logger

    real_log, rows = Logger.log, []

    def log(self, row):
        rows.append(row)
        if len(rows) > 3:
            raise OSError(errno.ENOSPC, "No space left on device")
        real_log(self, row)

    monkeypatch.setattr(Logger, "log", log)
    run = tmp_path / "run"
    argv = ["train", "--env", "Pendulum-v1", "--steps", "800", "--warmup-steps", "100"]
    argv += ["--eval-every", "200", "--log-every", "100", "--eval-episodes", "1"]
    argv += ["--batch-size", "16", "--updates-per-step", "1", "--agent.actor.width", "16"]
    argv += ["--agent.critic.width", "16", "--no-progress", "--no-tensorboard"]
    assert main([*argv, "--run-dir", str(run)]) == 1
    err = capsys.readouterr().err
    assert f"No space left on device (run {run}). Files already written" in err
    assert f"continue with --resume {run}" in err and "Traceback" not in err
