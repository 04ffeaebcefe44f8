"""benchmarks/learning.py: finished runs enter curves.json, interrupted ones do not."""

import json
import sys
from pathlib import Path

import pytest

from simbarl.train.results import RunResult
from tests.benchmark_scripts import load_benchmark


@pytest.fixture
def learning():
    return load_benchmark("learning")


def fake_train(stop_at: int | None):
    """A stand-in for ``train`` that logs evaluations every 10 steps up to ``cfg.steps``
    or, when ``stop_at`` is set, stops there as a Ctrl-C would."""

    def train(cfg, resume=None):
        run_dir = Path(cfg.run_dir)
        run_dir.mkdir(parents=True, exist_ok=True)
        last = cfg.steps if stop_at is None else stop_at
        rows = [{"env_step": s, "eval/return": float(s)} for s in range(10, last + 1, 10)]
        perf = [{"env_step": s, "perf/env_steps_per_s": 5.0} for s in range(10, last + 1, 10)]
        lines = [json.dumps(r) + "\n" for pair in zip(perf, rows, strict=True) for r in pair]
        (run_dir / "metrics.jsonl").write_text("".join(lines))
        return RunResult(
            run_dir,
            last,
            [(r["env_step"], r["eval/return"]) for r in rows],
            interrupted=stop_at is not None,
        )

    return train


def run_main(learning, monkeypatch, out: Path, seed: int):
    argv = [
        "learning.py",
        "--tasks",
        "Pendulum-v1",
        "--steps",
        "30",
        "--seeds",
        str(seed),
        "--out",
        str(out),
    ]
    monkeypatch.setattr(sys, "argv", argv)
    learning.main()


def test_a_finished_run_enters_curves_json(learning, monkeypatch, tmp_path):
    monkeypatch.setattr(learning, "train", fake_train(stop_at=None))
    run_main(learning, monkeypatch, tmp_path, seed=0)
    summary = json.loads((tmp_path / "curves.json").read_text())
    assert summary["tasks"]["Pendulum-v1"]["sac"]["per_seed"]["0"] == [
        [10, 10.0],
        [20, 20.0],
        [30, 30.0],
    ]


def test_curves_json_keeps_each_runs_wall_clock_and_machine(learning, monkeypatch, tmp_path):
    monkeypatch.setattr(learning, "train", fake_train(stop_at=None))
    monkeypatch.setattr(learning, "cpu_name", lambda: "first CPU")
    run_main(learning, monkeypatch, tmp_path, seed=0)
    (tmp_path / "Pendulum-v1" / "simbav2-small-seed0" / "checkpoint.npz").write_bytes(b"")
    monkeypatch.setattr(learning, "cpu_name", lambda: "second CPU")
    run_main(learning, monkeypatch, tmp_path, seed=0)  # finished: only read back
    run_main(learning, monkeypatch, tmp_path, seed=1)
    runs = json.loads((tmp_path / "curves.json").read_text())["tasks"]["Pendulum-v1"]["sac"]
    runs = runs["runs"]
    assert runs["0"]["train_seconds"] == 6.0  # 30 env steps logged at 5 per s
    assert (runs["0"]["machine"], runs["1"]["machine"]) == ("first CPU", "second CPU")


def test_a_finished_run_copied_in_is_read_back_with_its_machine(learning, monkeypatch, tmp_path):
    """A finished run made elsewhere (no checkpoint, as copied from a GPU machine) is read
    back, not trained again, and ``--machine`` labels it."""
    monkeypatch.setattr(learning, "train", fake_train(stop_at=None))
    elsewhere = tmp_path / "elsewhere"
    run_main(learning, monkeypatch, elsewhere, seed=0)
    out = tmp_path / "out"
    (out / "Pendulum-v1").mkdir(parents=True)
    run = elsewhere / "Pendulum-v1" / "simbav2-small-seed0"
    assert not (run / "checkpoint.npz").exists()
    run.rename(out / "Pendulum-v1" / "simbav2-small-seed0")
    seen: list = []
    monkeypatch.setattr(learning, "train", recording_train(seen))
    monkeypatch.setattr(sys, "argv", [*argv_for(out, seed=0), "--machine", "a GPU"])
    learning.main()
    assert seen == []  # read back, not trained
    sac = json.loads((out / "curves.json").read_text())["tasks"]["Pendulum-v1"]["sac"]
    assert sac["per_seed"]["0"] == [[10, 10.0], [20, 20.0], [30, 30.0]]
    assert sac["runs"]["0"]["machine"] == "a GPU"
    assert sac["runs"]["0"]["train_seconds"] == 6.0


def argv_for(out: Path, seed: int) -> list[str]:
    return ["learning.py", "--tasks", "Pendulum-v1", "--steps", "30", "--seeds", str(seed),
            "--out", str(out)]  # fmt: skip


def test_an_interrupted_run_stays_out_of_curves_json(learning, monkeypatch, tmp_path, capsys):
    monkeypatch.setattr(learning, "train", fake_train(stop_at=None))
    run_main(learning, monkeypatch, tmp_path, seed=0)
    monkeypatch.setattr(learning, "train", fake_train(stop_at=20))
    with pytest.raises(SystemExit) as stop:
        run_main(learning, monkeypatch, tmp_path, seed=1)
    assert stop.value.code == 130
    assert "seed 1: stopped before 30 steps" in capsys.readouterr().out
    summary = json.loads((tmp_path / "curves.json").read_text())
    assert list(summary["tasks"]["Pendulum-v1"]["sac"]["per_seed"]) == ["0"]
    assert summary["tasks"]["Pendulum-v1"]["sac"]["curve"][-1]["n"] == 1


def test_set_overrides_reach_every_run_and_are_recorded(learning, monkeypatch, tmp_path):
    seen = []
    fake = fake_train(stop_at=None)
    monkeypatch.setattr(learning, "train", lambda cfg, resume=None: seen.append(cfg) or fake(cfg))
    argv = ["learning.py", "--tasks", "Pendulum-v1", "--steps", "30", "--seeds", "0", "1"]
    overrides = ["replay.recency_decay_steps=80000", "replay.recency_min_weight=0.05"]
    monkeypatch.setattr(sys, "argv", [*argv, "--out", str(tmp_path), "--set", *overrides])
    learning.main()
    assert [c.replay.recency_decay_steps for c in seen] == [80000, 80000]
    assert [c.replay.recency_min_weight for c in seen] == [0.05, 0.05]
    summary = json.loads((tmp_path / "curves.json").read_text())
    assert summary["overrides"] == overrides
    # a later invocation without the overrides does not merge into these curves
    assert learning._earlier(tmp_path / "curves.json", "simbav2-small", 30) == {}


def recording_train(seen: list, stop_at: int | None = None):
    """``fake_train`` that also records the configs it was given."""
    inner = fake_train(stop_at)

    def train(cfg, resume=None):
        seen.append((cfg, resume))
        return inner(cfg, resume)

    return train


def test_preset_simbav2_with_explicit_steps_and_a_width(learning, monkeypatch, tmp_path):
    seen = []
    monkeypatch.setattr(learning, "train", recording_train(seen))
    argv = ["learning.py", "--tasks", "Pendulum-v1", "--seeds", "0", "--preset", "simbav2"]
    argv += ["--steps", "30", "--eval-every", "10", "--width", "256", "--out", str(tmp_path)]
    monkeypatch.setattr(sys, "argv", argv)
    learning.main()
    ((cfg, _),) = seen
    assert (cfg.steps, cfg.eval_every, cfg.preset) == (30, 10, "simbav2")  # not the 1M budget
    assert (cfg.agent.critic.width, cfg.agent.actor.width) == (256, 64)
    assert cfg.run_dir == str(tmp_path / "Pendulum-v1" / "simbav2-w256-seed0")
    assert json.loads((tmp_path / "curves.json").read_text())["preset"] == "simbav2-w256"


def test_pause_at_runs_in_pieces(learning, monkeypatch, tmp_path, capsys):
    seen = []
    monkeypatch.setattr(learning, "train", recording_train(seen, stop_at=20))
    argv = ["learning.py", "--tasks", "Pendulum-v1", "--seeds", "0", "--steps", "30"]
    argv += ["--pause-at", "20", "--out", str(tmp_path)]
    monkeypatch.setattr(sys, "argv", argv)
    with pytest.raises(SystemExit):
        learning.main()
    assert seen[0][0].pause_at == 20 and seen[0][1] is None
    run_dir = Path(seen[0][0].run_dir)
    (run_dir / "checkpoint.npz").write_bytes(b"")  # what the paused run leaves
    with pytest.raises(SystemExit):  # the same piece again: nothing to do, no training
        learning.main()
    assert len(seen) == 1 and "larger --pause-at" in capsys.readouterr().out
    monkeypatch.setattr(learning, "train", recording_train(seen))
    monkeypatch.setattr(sys, "argv", argv[: argv.index("--pause-at")] + argv[-2:])
    learning.main()  # the last piece resumes and finishes
    assert seen[-1][1] == run_dir and seen[-1][0].pause_at is None
    assert "Pendulum-v1" in json.loads((tmp_path / "curves.json").read_text())["tasks"]


def test_until_ends_runs_early_with_the_full_budget(learning, monkeypatch, tmp_path):
    seen = []

    def train(cfg, resume=None):  # stops at cfg.pause_at as the loops do
        seen.append(cfg)
        return fake_train(cfg.pause_at)(cfg, resume)

    monkeypatch.setattr(learning, "train", train)
    argv = ["learning.py", "--tasks", "Pendulum-v1", "--seeds", "0", "--preset", "simbav2"]
    argv += ["--steps", "100", "--until", "30", "--out", str(tmp_path)]
    monkeypatch.setattr(sys, "argv", argv)
    learning.main()
    ((cfg,),) = [seen]
    assert (cfg.steps, cfg.pause_at) == (100, 30)  # the lr decay spans 100, the run ends at 30
    assert cfg.run_dir.endswith("simbav2-budget100-seed0")
    summary = json.loads((tmp_path / "curves.json").read_text())
    assert (summary["preset"], summary["steps"]) == ("simbav2-budget100", 30)
    assert summary["tasks"]["Pendulum-v1"]["sac"]["per_seed"]["0"][-1] == [30, 30.0]


def test_a_preset_runs_its_own_algorithm_unless_told(learning, monkeypatch, tmp_path):
    """``--preset flashsac-small`` trains flashsac (the default sac is refused there);
    ``--algos`` still picks."""
    seen = []
    monkeypatch.setattr(learning, "train", recording_train(seen))
    argv = ["learning.py", "--tasks", "Pendulum-v1", "--seeds", "0", "--steps", "30"]
    argv += ["--eval-every", "10", "--out", str(tmp_path)]
    for extra in (["--preset", "flashsac-small"], ["--algos", "td3"], []):
        monkeypatch.setattr(sys, "argv", argv + extra)
        learning.main()
    assert [cfg.algo for cfg, _ in seen] == ["flashsac", "td3", "sac"]
    assert seen[0][0].run_dir == str(tmp_path / "Pendulum-v1" / "flashsac-flashsac-small-seed0")


def test_flashsac_curves_sit_beside_the_published_flashsac_curve(learning, monkeypatch, tmp_path):
    monkeypatch.setattr(learning, "train", fake_train(stop_at=None))
    argv = ["learning.py", "--tasks", "HalfCheetah-v4", "--seeds", "0", "--steps", "100000"]
    argv += ["--eval-every", "100000"]
    published = {}
    for preset in ("flashsac-small", "simbav2-small"):
        monkeypatch.setattr(
            sys, "argv", [*argv, "--preset", preset, "--out", str(tmp_path / preset)]
        )
        learning.main()
        tasks = json.loads((tmp_path / preset / "curves.json").read_text())["tasks"]
        ((algo, entry),) = tasks["HalfCheetah-v4"].items()
        published[algo] = (entry["published_system"], entry["curve"][-1]["published_mean"])
    assert published == {
        "flashsac": ("flashsac", pytest.approx(9815.07)),
        "sac": ("simbaV2_utd2", pytest.approx(7328)),
    }
