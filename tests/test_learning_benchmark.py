"""benchmarks/learning.py: finished runs enter curves.json, interrupted ones do not."""

import importlib.util
import json
import sys
from pathlib import Path

import pytest

from simbarl.train.results import RunResult

SCRIPT = Path(__file__).resolve().parents[1] / "benchmarks" / "learning.py"


@pytest.fixture
def learning():
    spec = importlib.util.spec_from_file_location("learning_benchmark", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def fake_train(stop_at: int | None):
    """A stand-in for ``train`` that logs evaluations every 10 steps up to ``cfg.steps``
    or, when ``stop_at`` is set, stops there as a Ctrl-C would."""

    def train(cfg, resume=None):
        run_dir = Path(cfg.run_dir)
        run_dir.mkdir(parents=True, exist_ok=True)
        last = cfg.steps if stop_at is None else stop_at
        rows = [{"env_step": s, "eval/return": float(s)} for s in range(10, last + 1, 10)]
        (run_dir / "metrics.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
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
