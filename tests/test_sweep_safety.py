"""A sweep never deletes results, never runs a second trainer on a run, and its
runners stop (checkpointing) when their driver dies."""

import contextlib
import dataclasses
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from simbarl.cli import main
from simbarl.config import parse_config
from simbarl.runs.checkpoint import read_meta
from simbarl.runs.lock import RunLocked, RunLocks, holder
from simbarl.runs.metrics import read_metrics
from simbarl.sweep import runner
from simbarl.sweep.spec import expand

TINY = [
    "warmup_steps=100",
    "eval_every=200",
    "eval_episodes=1",
    "log_every=200",
    "batch_size=16",
    "updates_per_step=1",
    "tensorboard=false",
    "agent.actor.width=16",
    "agent.critic.width=16",
]


def spec_of(out, steps: int):
    config = parse_config("tiny=simbav2-small", [*TINY, f"steps={steps}"])
    return expand(["Pendulum-v1"], [config], [0], out)[0]


@pytest.fixture(scope="module")
def finished_sweep(tmp_path_factory):
    out = tmp_path_factory.mktemp("sweep") / "out"
    assert runner.run(spec_of(out, 400)) == "done"
    return out


@pytest.fixture
def out(finished_sweep, tmp_path):
    copy = tmp_path / "out"
    shutil.copytree(finished_sweep, copy)
    return copy


def _sweep(out, steps, *extra):
    argv = ["sweep", "--tasks", "Pendulum-v1", "--seeds", "1", "--steps", str(steps)]
    argv += ["--config", "tiny=simbav2-small", "--out", str(out), "--set", *TINY, *extra]
    return main(argv)


@pytest.mark.parametrize("damage", ["deleted", "damaged"])
def test_a_run_with_results_but_no_checkpoint_is_kept_not_deleted(out, damage, capsys):
    spec = spec_of(out, 600)
    ckpt = os.path.join(spec.run_dir, "checkpoint.npz")
    if damage == "deleted":
        os.remove(ckpt)
    else:
        with open(ckpt, "r+b") as f:
            f.truncate(1000)
    rows = read_metrics(spec.run_dir)
    assert runner.status(spec) == "kept" and runner.run(spec) == "kept"
    assert read_metrics(spec.run_dir) == rows
    why = "no checkpoint to extend" if damage == "deleted" else "its checkpoint is damaged"
    assert _sweep(out, 600, "--dry-run") == 0
    printed = capsys.readouterr().out
    assert "1 kept" in printed and why in printed and f"--restart {spec.run_dir}" in printed
    assert _sweep(out, 600) == 1  # not finished: the exit status says so
    assert "1 of 1 runs left unfinished (1 kept" in capsys.readouterr().err
    assert read_metrics(spec.run_dir) == rows  # the kept run's results are still collected
    assert "tiny,Pendulum-v1,avg_return,400" in (out / "results.csv").read_text()
    restart = dataclasses.replace(spec, restart=True)
    assert runner.status(restart) == "restart"
    assert _sweep(out, 600, "--restart", spec.run_dir) == 0
    assert read_meta(ckpt)["env_step"] == 600


def test_a_run_being_trained_elsewhere_is_left_alone(out, capsys):
    spec = spec_of(out, 600)
    with RunLocks() as locks:
        locks.hold(spec.run_dir)
        assert runner.status(spec) == "running"
        assert "being trained by pid" in runner.explain(spec, "running")
        assert runner.run(spec) == "running"
        assert _sweep(out, 600) == 1  # a run left running: the sweep is not finished
    assert "1 of 1 runs left unfinished (1 running" in capsys.readouterr().err
    assert read_meta(os.path.join(spec.run_dir, "checkpoint.npz"))["env_step"] == 400


def _files(run_dir) -> dict:
    return {p.name: p.read_bytes() for p in sorted(Path(run_dir).iterdir()) if p.is_file()}


# (id, the run's state when another process holds its lock, what is left)
LOCKED_RUNS = [
    ("new", "started by another sweep a moment ago, no evaluation yet", "its files, untouched"),
    ("restart", "named by --restart, its trainer still alive", "its files, untouched"),
    ("resume", "has a checkpoint to continue from", "its files, untouched"),
]


@pytest.mark.parametrize("state, what, left", LOCKED_RUNS, ids=[c[0] for c in LOCKED_RUNS])
def test_a_locked_run_is_neither_deleted_nor_claimed(out, state, what, left):
    spec = spec_of(out, 600)
    if state == "new":
        (Path(spec.run_dir) / "checkpoint.npz").unlink()
        (Path(spec.run_dir) / "metrics.jsonl").write_text("")
    spec = dataclasses.replace(spec, restart=state == "restart")
    before = _files(spec.run_dir)
    with RunLocks() as locks:  # the other process, alive
        locks.hold(spec.run_dir)
        assert runner.run(spec) == "running"
        after = _files(spec.run_dir)
    assert after == before


def test_a_runs_fate_is_decided_under_its_lock(out, monkeypatch):
    """Two sweeps started at the same moment: the one that decides a run's state holds
    its lock while it looks, so the other cannot take the run between the look and the
    deletion of a ``new`` run (it was looked at unlocked, then deleted)."""
    spec = spec_of(out, 400)
    (Path(spec.run_dir) / "checkpoint.npz").unlink()  # died before its first evaluation
    (Path(spec.run_dir) / "metrics.jsonl").write_text("")
    seen, other = [], RunLocks()  # the second sweep, trying the run while it is looked at
    real = runner.checkpoint_step

    def checkpoint_step(run_dir):
        seen.append(holder(run_dir))
        with contextlib.suppress(RunLocked):
            other.hold(run_dir)
        return real(run_dir)

    monkeypatch.setattr(runner, "checkpoint_step", checkpoint_step)
    try:
        assert runner.run(spec) == "done"
        claimed_by_other = bool(other._fds)
    finally:
        other.release()
    assert seen[0] is not None and seen[0].startswith(f"pid {os.getpid()} on host")
    assert not claimed_by_other
    assert read_meta(os.path.join(spec.run_dir, "checkpoint.npz"))["env_step"] == 400


# (id, what --out names, what is left)
BAD_OUTS = [
    ("a-file", "an existing file", "the file, untouched"),
    ("read-only-directory", "a directory the user may not write", "the directory, empty"),
    ("in-a-read-only-directory", "a new directory inside a read-only one", "nothing"),
]


@pytest.mark.parametrize("where, what, left", BAD_OUTS, ids=[c[0] for c in BAD_OUTS])
def test_an_unwritable_out_is_one_sentence(tmp_path, where, what, left, capsys):
    if where == "a-file":
        target = tmp_path / "out"
        target.write_text("not a directory")
    else:
        if os.geteuid() == 0:
            pytest.skip("root writes read-only directories")
        locked = tmp_path / "locked"
        locked.mkdir()
        locked.chmod(0o555)
        target = locked if where == "read-only-directory" else locked / "out"
    try:
        assert _sweep(target, 400) == 2
    finally:
        if where != "a-file":
            locked.chmod(0o755)
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and f"--out {target}" in err, err
    assert "Traceback" not in err


def test_every_task_id_is_checked_before_any_run(tmp_path, capsys):
    out = tmp_path / "out"
    argv = ["sweep", "--tasks", "Pendulum-v1", "Pendulum-v9", "--out", str(out)]
    assert main(argv) == 2
    assert "unknown environment id 'Pendulum-v9'" in capsys.readouterr().err
    assert not out.exists()


def test_a_runner_stops_and_checkpoints_when_its_driver_is_killed(tmp_path):
    spec = spec_of(tmp_path / "out", 100_000)
    spec = dataclasses.replace(spec, config={**spec.config, "log_every": 100})
    spec_file = tmp_path / "spec.json"
    spec_file.write_text(json.dumps(dataclasses.asdict(spec)))
    driver = (
        "import subprocess, sys, time; "
        "p = subprocess.Popen([sys.executable, '-m', 'simbarl.sweep.runner', sys.argv[1]]); "
        "print(p.pid, flush=True); time.sleep(600)"
    )
    proc = subprocess.Popen(
        [sys.executable, "-c", driver, str(spec_file)], stdout=subprocess.PIPE, text=True
    )
    child = int(proc.stdout.readline())
    deadline = time.time() + 300
    while time.time() < deadline and not read_metrics(spec.run_dir):
        time.sleep(0.5)
    assert read_metrics(spec.run_dir), "the runner never logged"
    proc.send_signal(signal.SIGKILL)  # the driver dies without a word
    proc.wait()
    deadline = time.time() + 120
    while time.time() < deadline and _alive(child):
        time.sleep(0.5)
    assert not _alive(child)
    assert holder(spec.run_dir) is None
    assert read_meta(os.path.join(spec.run_dir, "checkpoint.npz"))["env_step"] >= 100


def test_sigint_to_the_sweep_alone_checkpoints_its_runs(tmp_path, shared_cache):
    """``kill -INT <sweep>`` (not a terminal's Ctrl-C, which reaches the whole process
    group): the sweep passes it on, its run checkpoints and stops, the sweep exits."""
    out = tmp_path / "out"
    argv = ["sweep", "--tasks", "Pendulum-v1", "--seeds", "1", "--steps", "100000"]
    argv += ["--config", "tiny=simbav2-small", "--out", str(out), "--set", *TINY]
    proc = subprocess.Popen(
        [sys.executable, "-m", "simbarl.cli", *argv],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env={**os.environ, **shared_cache},
    )
    run_dir = spec_of(out, 100_000).run_dir
    try:
        deadline = time.time() + 300
        while time.time() < deadline and not read_metrics(run_dir):
            time.sleep(0.5)
        assert read_metrics(run_dir), "the run never logged"
        proc.send_signal(signal.SIGINT)
        assert proc.wait(timeout=120) != 0  # interrupted, not finished
    finally:
        if proc.poll() is None:  # a failed test leaves nothing running: its run sees it die
            proc.kill()
    assert holder(run_dir) is None  # the runner is gone and let go of its run
    assert read_meta(os.path.join(run_dir, "checkpoint.npz"))["env_step"] >= 200


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # A zombie (exited, not reaped by init yet) counts as gone.
    with open(f"/proc/{pid}/stat") as f:
        return f.read().split(")")[-1].split()[0] != "Z"
