"""A crafted or corrupt checkpoint is one sentence naming the file and the field.

Every loader (``--resume``, ``simbarl eval``, ``load_agent``, ``--init-from``) checks
the metadata's counters and every array's ``.npy`` header (shape and dtype) against
what the run's config builds, before any array is read: a header declaring
200000 x 200000 floats is refused, not allocated (149 GiB).
"""

import io
import json
import shutil
import zipfile

import numpy as np
import pytest

from simbarl.cli import main
from simbarl.config import AgentConfig, NetworkConfig, TrainConfig
from simbarl.runs.load import load_agent
from simbarl.train.run import train

AGENT = AgentConfig(actor=NetworkConfig("simbav2", 16, 1), critic=NetworkConfig("simbav2", 16, 1))
META = "__meta__.npy"


@pytest.fixture(scope="module")
def finished(tmp_path_factory):
    run = tmp_path_factory.mktemp("crafted") / "run"
    cfg = TrainConfig(
        env="Pendulum-v1",
        steps=200,
        batch_size=16,
        updates_per_step=1,
        warmup_steps=100,
        eval_every=200,
        eval_episodes=1,
        log_every=200,
        agent=AGENT,
        progress=False,
        tensorboard=False,
        run_dir=str(run),
    )
    train(cfg)
    return run


@pytest.fixture
def run(finished, tmp_path):
    copy = tmp_path / "run"
    shutil.copytree(finished, copy)
    (copy / ".lock").unlink(missing_ok=True)
    return copy


def _npy(array: np.ndarray) -> bytes:
    buf = io.BytesIO()
    np.lib.format.write_array(buf, array)
    return buf.getvalue()


def _header_only(shape: tuple, dtype=np.float32) -> bytes:
    """An ``.npy`` member that declares ``shape`` but holds a few bytes of data."""
    buf = io.BytesIO()
    descr = np.lib.format.dtype_to_descr(np.dtype(dtype))
    header = {"descr": descr, "fortran_order": False, "shape": shape}
    np.lib.format.write_array_header_1_0(buf, header)
    return buf.getvalue() + bytes(64)


def _rewrite(path, edit) -> str:
    """Rewrite the checkpoint's members with ``edit(members) -> field``; returns the field."""
    with zipfile.ZipFile(path) as z:
        members = {n: z.read(n) for n in z.namelist()}
    field = edit(members)
    with zipfile.ZipFile(path, "w", zipfile.ZIP_STORED) as z:
        for name, data in members.items():
            z.writestr(name, data)
    return field


def _set_meta(name, value):
    def edit(members):
        meta = json.loads(np.load(io.BytesIO(members[META])).tobytes())
        meta[name] = value
        members[META] = _npy(np.frombuffer(json.dumps(meta).encode(), np.uint8))
        return name

    return edit


def _declare(member, shape):
    """An edit that makes the array ``member(members)`` names declare ``shape``."""

    def edit(members):
        name = member(members)
        members[name] = _header_only(shape)
        return name.removesuffix(".npy")

    return edit


def _a_weight(members) -> str:
    is_matrix = lambda n: np.load(io.BytesIO(members[n])).ndim == 2
    return next(n for n in sorted(members) if n.startswith("learner.") and is_matrix(n))


# (id, what the file holds, what is left, edit, also read by load_agent / eval / --init-from)
CASES = [
    (
        "capacity-text",
        'replay_capacity is "abc"',
        "the run, untouched; resuming it is refused",
        _set_meta("replay_capacity", "abc"),
        False,
    ),
    (
        "capacity-negative",
        "replay_capacity is -5",
        "the run, untouched; resuming it is refused",
        _set_meta("replay_capacity", -5),
        False,
    ),
    (
        "size-above-capacity",
        "replay_size is larger than the ring",
        "the run, untouched; resuming it is refused",
        _set_meta("replay_size", 10**9),
        False,
    ),
    (
        "env-step-text",
        'env_step is "x"',
        "the run, untouched; resume, eval, load_agent and --init-from refuse it",
        _set_meta("env_step", "x"),
        True,
    ),
    (
        "huge-learner-array",
        "a network weight's header declares float32[200000, 200000] (149 GiB)",
        "the run, untouched; nothing is allocated",
        _declare(_a_weight, (200_000, 200_000)),
        True,
    ),
    (
        "huge-replay",
        "the replay's observations declare 10^9 rows",
        "the run, untouched; nothing is allocated",
        _declare(lambda m: "replay.obs.npy", (10**9, 3)),
        False,
    ),
]


@pytest.mark.parametrize(
    "what, left, edit, agent", [c[1:] for c in CASES], ids=[c[0] for c in CASES]
)
def test_a_crafted_checkpoint_is_one_sentence_naming_file_and_field(
    run, what, left, edit, agent, capsys, tmp_path
):
    path = run / "checkpoint.npz"
    field = _rewrite(path, edit)
    assert main(["train", "--resume", str(run), "--steps", "400"]) == 2
    commands = 1
    if agent:
        with pytest.raises(ValueError) as e:
            load_agent(run)
        assert str(path) in str(e.value) and field in str(e.value)
        assert main(["eval", str(run), "--episodes", "1"]) == 2
        argv = ["train", "--init-from", str(run), "--steps", "400", "--no-progress"]
        assert main([*argv, "--run-dir", str(tmp_path / "warm")]) == 2
        commands = 3
    err = capsys.readouterr().err
    assert "Traceback" not in err
    lines = [line for line in err.splitlines() if line.startswith("simbarl")]
    assert len(lines) == commands, err
    assert all(str(path) in line and field in line for line in lines), err
