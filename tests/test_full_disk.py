"""A full disk: one sentence, never a hang or a traceback, a whole checkpoint, a run that goes on.

The disk fills by an injected ``OSError(ENOSPC)`` from the file writes of one writer
(``metrics.jsonl``, or TensorBoard's event file): ``open`` in that writer's module
returns files whose writes fail after a number of them have succeeded. ``CASES``
lists what each command does and leaves behind.
"""

from __future__ import annotations

import atexit
import builtins
import errno
import json
import struct
import subprocess
import sys
import threading

import pytest

from simbarl.cli import main
from simbarl.runs import metrics, tensorboard
from simbarl.runs.checkpoint import read_meta
from simbarl.runs.metrics import Logger, read_metrics

ENOSPC = "No space left on device"

# (id, what happens, what is left)
CASES = [
    (
        "full-disk-tensorboard-train",
        "simbarl train: the TensorBoard writer fails mid-run; one warning names the run, "
        "TensorBoard is off from there and training goes on to its budget",
        "metrics.jsonl with every row, the final checkpoint, the event file up to the failure",
    ),
    (
        "full-disk-metrics-train",
        "simbarl train: writing metrics.jsonl fails; the run stops with one sentence "
        "naming it and `--resume <run>`, exit status 1",
        "the last checkpoint before the failure, whole; `--resume` finishes the run",
    ),
    (
        "full-disk-tensorboard-offline",
        "simbarl offline: the TensorBoard writer fails mid-run; one warning names the run, "
        "training goes on to its budget",
        "metrics.jsonl with every row, the final checkpoint",
    ),
    (
        "full-disk-metrics-offline",
        "simbarl offline: writing metrics.jsonl fails; the run stops with one sentence "
        "naming it and saying to run again with another --run-dir, exit status 1",
        "the last checkpoint before the failure, whole; the same command into another "
        "directory finishes",
    ),
    (
        "full-disk-tensorboard-tune",
        "simbarl tune: a trial's TensorBoard writer fails; one warning names the trial's "
        "run, the trial and the study go on",
        "the study complete, each trial's metrics.jsonl and checkpoint",
    ),
    (
        "full-disk-metrics-tune",
        "simbarl tune: a trial's metrics.jsonl fails; the study stops with one sentence "
        "naming the trial's run, exit status 1",
        "the trial's last checkpoint, whole; the same command again resumes the trial "
        "from it and completes the study",
    ),
    (
        "full-disk-tensorboard-evolve",
        "simbarl evolve: the TensorBoard writer fails; one warning names the run, the "
        "generations go on",
        "metrics.jsonl with a row per generation, the population's last checkpoint",
    ),
    (
        "full-disk-metrics-evolve",
        "simbarl evolve: writing a generation's metrics row fails; the run stops with one "
        "sentence naming it and `--resume <run>`, exit status 1",
        "the population's checkpoint of the generation before, whole; `simbarl evolve "
        "--resume` finishes the run",
    ),
]


class FullDisk:
    """``open`` for one module: its files' writes fail with ENOSPC after ``after`` of them."""

    def __init__(self, after: int):
        self.after, self.writes = after, 0

    def open(self, *args, **kw):
        return _Filling(builtins.open(*args, **kw), self)


class _Filling:
    def __init__(self, file, disk: FullDisk):
        self._file, self._disk = file, disk

    def write(self, data):
        self._disk.writes += 1
        if self._disk.writes > self._disk.after:
            raise OSError(errno.ENOSPC, ENOSPC)
        return self._file.write(data)

    def __getattr__(self, name):
        return getattr(self._file, name)


def fill(monkeypatch, writer: str, after: int) -> FullDisk:
    disk = FullDisk(after)
    module = metrics if writer == "metrics" else tensorboard
    monkeypatch.setattr(module, "open", disk.open, raising=False)
    return disk


def events(run_dir) -> list:
    """The events of a run's TensorBoard files (TFRecord framing, checksums skipped)."""
    from tensorboardX.proto import event_pb2

    found = []
    for path in sorted((run_dir / "tb").glob("events.out.tfevents.*")):
        data, at = path.read_bytes(), 0
        while at < len(data):
            (n,) = struct.unpack("Q", data[at : at + 8])
            found.append(event_pb2.Event.FromString(data[at + 12 : at + 12 + n]))
            at += 12 + n + 4
    return found


def scalar_steps(run_dir, tag: str) -> list[int]:
    return [e.step for e in events(run_dir) for v in e.summary.value if v.tag == tag]


def assert_one_sentence(err: str, sentence: str) -> None:
    assert err.count(sentence) == 1, err
    assert "Traceback" not in err and "Exception ignored" not in err, err
    assert "simbarl: warning" not in err or "TensorBoard logging of run" in sentence, err


# -- the Logger ---------------------------------------------------------------


def test_a_failed_tensorboard_write_is_reported_once_and_dropped(tmp_path, monkeypatch, capfd):
    atexits, threads = atexit._ncallbacks(), threading.active_count()
    fill(monkeypatch, "tensorboard", after=2)  # the file's header and one row
    logger = Logger(tmp_path, tensorboard=True)
    assert atexit._ncallbacks() == atexits and threading.active_count() == threads
    for step in (100, 200, 300):
        logger.log({"env_step": step, "train/critic/loss": 1.0})
    logger.close()
    logger.close()  # again: nothing
    assert [r["env_step"] for r in read_metrics(tmp_path)] == [100, 200, 300]
    assert scalar_steps(tmp_path, "train/critic/loss") == [100]
    err = capfd.readouterr().err
    assert_one_sentence(err, f"TensorBoard logging of run {tmp_path} failed ({ENOSPC})")


def test_a_tensorboard_writer_that_cannot_start_is_reported_once(tmp_path, monkeypatch, capfd):
    fill(monkeypatch, "tensorboard", after=0)  # not even the header
    logger = Logger(tmp_path, tensorboard=True)
    logger.log({"env_step": 100, "eval/return": 3.0})
    logger.close()
    assert read_metrics(tmp_path) == [{"env_step": 100, "eval/return": 3.0}]
    assert_one_sentence(capfd.readouterr().err, f"TensorBoard logging of run {tmp_path}")


def test_a_failed_metrics_write_is_raised_and_closes_quietly(tmp_path, monkeypatch, capfd):
    fill(monkeypatch, "metrics", after=1)
    logger = Logger(tmp_path, tensorboard=True)
    logger.log({"env_step": 100, "eval/return": 3.0})
    with pytest.raises(OSError, match=ENOSPC):
        logger.log({"env_step": 200, "eval/return": 4.0})
    logger.close(quiet=True)
    assert read_metrics(tmp_path) == [{"env_step": 100, "eval/return": 3.0}]
    assert scalar_steps(tmp_path, "eval/return") == [100]
    assert capfd.readouterr().err == ""


def test_a_process_that_exits_after_failed_writes_prints_nothing_more(tmp_path):
    """At exit nothing retries a failed write (tensorboardX's atexit handler did, and
    printed two tracebacks and 'Exception ignored in atexit callback')."""
    code = f"""
import errno, sys
from pathlib import Path
from simbarl.runs import metrics
class Full:
    def __init__(self, f): self.f = f
    def write(self, data): raise OSError(errno.ENOSPC, "No space left on device")
    def __getattr__(self, name): return getattr(self.f, name)
logger = metrics.Logger(Path({str(tmp_path)!r}), tensorboard=True)
logger._tb._file = Full(logger._tb._file)
logger._file = Full(logger._file)
try:
    logger.log({{"env_step": 1, "x": 1.0}})
except OSError as e:
    print("error:", e, file=sys.stderr)
sys.exit(1)  # without closing the logger
"""
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert proc.returncode == 1
    assert proc.stderr.strip() == f"error: [Errno 28] {ENOSPC}", proc.stderr


# -- the commands ---------------------------------------------------------------

TRAIN = ["train", "--env", "Pendulum-v1", "--steps", "600", "--warmup-steps", "100"]
TRAIN += ["--eval-every", "200", "--log-every", "100", "--eval-episodes", "1"]
TRAIN += ["--batch-size", "16", "--updates-per-step", "1", "--agent.actor.width", "16"]
TRAIN += ["--agent.critic.width", "16", "--no-progress"]


def _train(tmp_path, monkeypatch, capfd, writer):
    run = tmp_path / "run"
    # training rows at 100..600, evaluations at 200, 400, 600. metrics.jsonl: the 4th row
    # (training at 300) fails, after the checkpoint at 200; TensorBoard: its file's header
    # and the first row are written, the second fails
    after = 3 if writer == "metrics" else 2
    with monkeypatch.context() as m:
        fill(m, writer, after)
        code = main([*TRAIN, "--run-dir", str(run)])
    err = capfd.readouterr().err
    if writer == "metrics":
        assert code == 1
        assert_one_sentence(err, f"{ENOSPC} (run {run}). Files already written are whole")
        assert f"continue with --resume {run}" in err
        assert read_meta(run / "checkpoint.npz")["env_step"] == 200
    else:
        assert code == 0
        assert_one_sentence(err, f"TensorBoard logging of run {run} failed ({ENOSPC})")
        assert scalar_steps(run, "train/critic/loss") == [100]
    assert main(["train", "--resume", str(run)]) == 0  # the fault gone: the run finishes
    assert read_meta(run / "checkpoint.npz")["env_step"] == 600
    steps = [r["env_step"] for r in read_metrics(run) if "eval/return" in r]
    assert steps == [200, 400, 600]


def _offline(tmp_path, monkeypatch, capfd, writer):
    pytest.importorskip("minari")
    from pendulum_controller import Swingup

    from simbarl.datasets import EnvSpec, save_dataset
    from simbarl.offline.record import record_episodes

    monkeypatch.setenv("MINARI_DATASETS_PATH", str(tmp_path / "datasets"))
    save_dataset("disk", record_episodes(Swingup(), 2, seed=0), EnvSpec("Pendulum-v1", 1), "c")
    argv = ["offline", "--dataset", "simbarl/disk-v0", "--preset", "simbav2-bc-small"]
    argv += ["--steps", "300", "--batch-size", "16", "--eval-every", "100"]
    argv += ["--log-every", "100", "--eval-episodes", "1", "--no-progress"]
    argv += ["--set", "agent.actor.width=16", "agent.critic.width=16"]
    run = tmp_path / "offline"
    # rows: training and evaluation at 100, 200, 300. metrics.jsonl: the 3rd (training at
    # 200) fails, after the checkpoint at 100; TensorBoard: the 2nd (after the header)
    with monkeypatch.context() as m:
        fill(m, writer, after=2)
        code = main([*argv, "--run-dir", str(run)])
    err = capfd.readouterr().err
    if writer == "metrics":
        assert code == 1
        assert_one_sentence(err, f"{ENOSPC} (run {run}). Files already written are whole")
        assert "run the command again with another --run-dir" in err
        assert read_meta(run / "checkpoint.npz")["env_step"] == 100
    else:
        assert code == 0
        assert_one_sentence(err, f"TensorBoard logging of run {run} failed ({ENOSPC})")
        assert read_meta(run / "checkpoint.npz")["env_step"] == 300
    again = tmp_path / "again"
    assert main([*argv, "--run-dir", str(again)]) == 0
    assert read_meta(again / "checkpoint.npz")["env_step"] == 300


def _tune(tmp_path, monkeypatch, capfd, writer):
    pytest.importorskip("optuna")
    from simbarl.sweep.runner import checkpoint_step
    from simbarl.tune.study import TuneSpec, open_study

    space = tmp_path / "space.json"
    rate = {"name": "agent.learning_rate", "type": "float", "low": 1e-4, "high": 1e-3}
    space.write_text(json.dumps({"params": [rate]}))
    out = tmp_path / "study"
    argv = ["tune", "--env", "Pendulum-v1", "--space", str(space), "--out", str(out)]
    argv += ["--trials", "1", "--pruner", "none", "--seed", "1", "--set", "steps=300"]
    argv += ["warmup_steps=100", "eval_every=100", "eval_episodes=1", "log_every=100"]
    argv += ["batch_size=16", "updates_per_step=1", "tensorboard=true"]
    argv += ["agent.actor.width=16", "agent.critic.width=16", "agent.critic.num_blocks=1"]
    # rows as offline's: metrics.jsonl fails at training at 200, TensorBoard at the 2nd row
    with monkeypatch.context() as m:
        fill(m, writer, after=2)
        code = main(argv)
    err = capfd.readouterr().err
    trial = out / "trials" / "0"
    if writer == "metrics":
        assert code == 1
        assert_one_sentence(err, f"tune: error: [Errno 28] {ENOSPC} (run {trial}).")
        assert f"re-run the same command to continue the study ({out})" in err
        assert checkpoint_step(trial) == 100
        assert main(argv) == 0  # the fault gone: trial 1 resumes trial 0 and completes
        trial = out / "trials" / "1"
        assert open_study(TuneSpec.load(out)).trials[1].user_attrs["resumed_from"] == 0
    else:
        assert code == 0
        assert_one_sentence(err, f"TensorBoard logging of run {trial} failed ({ENOSPC})")
    assert checkpoint_step(trial) == 300
    assert [r["env_step"] for r in read_metrics(trial) if "eval/return" in r] == [100, 200, 300]


def _evolve(tmp_path, monkeypatch, capfd, writer):
    argv = ["evolve", "--population", "2", "--generations", "3", "--evo-steps", "100"]
    argv += ["--fitness-episodes", "1", "--mutation-probs", "none=1", "--env", "Pendulum-v1"]
    argv += ["--warmup-steps", "100", "--batch-size", "16", "--updates-per-step", "1"]
    argv += ["--agent.actor.width", "16", "--agent.critic.width", "16", "--no-progress"]
    run = tmp_path / "evolve"
    # a row per generation; metrics.jsonl: generation 2's fails, after generation 1's
    # checkpoint; TensorBoard: its header and generation 1's row are written
    with monkeypatch.context() as m:
        fill(m, writer, after=1 if writer == "metrics" else 2)
        code = main([*argv, "--run-dir", str(run)])
    err = capfd.readouterr().err
    if writer == "metrics":
        assert code == 1
        assert_one_sentence(err, f"{ENOSPC} (run {run}). Files already written are whole")
        assert f"continue with --resume {run}" in err
        assert read_meta(run / "checkpoint.npz")["generation"] == 1
        assert main(["evolve", "--resume", str(run)]) == 0
    else:
        assert code == 0
        assert_one_sentence(err, f"TensorBoard logging of run {run} failed ({ENOSPC})")
        assert scalar_steps(run, "evolve/best_fitness") == [200]
    assert read_meta(run / "checkpoint.npz")["generation"] == 3
    assert [r["generation"] for r in read_metrics(run) if "generation" in r] == [1, 2, 3]


COMMANDS = {"train": _train, "offline": _offline, "tune": _tune, "evolve": _evolve}


@pytest.mark.parametrize(
    "case, what_happens, what_is_left", [pytest.param(*c, id=c[0]) for c in CASES]
)
def test_a_full_disk(case, what_happens, what_is_left, tmp_path, monkeypatch, capfd):
    _, _, writer, command = case.split("-")  # full-disk-<writer>-<command>
    COMMANDS[command](tmp_path, monkeypatch, capfd, writer)
