"""--wandb: every metrics row, the config and the evaluations reach W&B (offline mode)."""

import sys
import types

import pytest
import tiny_config

from simbarl.runs.metrics import Logger
from simbarl.train.run import train
from simbarl.train.wandb_sink import ID_FILE, wandb_sink


class FakeRun:
    def __init__(self, runs, **kw):
        self.kw, self.rows, self.finished = kw, [], False
        runs.append(self)

    def log(self, row, step):
        self.rows.append((step, row))

    def finish(self):
        self.finished = True


@pytest.fixture
def fake_wandb(monkeypatch):
    runs = []
    module = types.SimpleNamespace(init=lambda **kw: FakeRun(runs, **kw))
    monkeypatch.setitem(sys.modules, "wandb", module)
    return runs


def test_sink_receives_every_row_the_logger_writes(tmp_path, fake_wandb):
    cfg = tiny_config.tiny(tmp_path, wandb=True, wandb_project="p", wandb_group="g")
    (tmp_path / "run").mkdir()
    logger = Logger(tmp_path / "run", tensorboard=False, sink=wandb_sink(cfg, tmp_path / "run"))
    rows = [
        {"env_step": 100, "train/critic/loss": 1.5},
        {"env_step": 100, "dynamics/critic/elr/total": 0.01},
        {"env_step": 200, "eval/return": 12.0},
    ]
    for row in rows:
        logger.log(row)
    logger.close()
    (run,) = fake_wandb
    assert run.finished and run.kw["project"] == "p" and run.kw["group"] == "g"
    assert run.kw["config"]["env"] == "dmc:cartpole-swingup" and run.kw["name"] == "run"
    assert run.rows == [
        (r["env_step"], {k: v for k, v in r.items() if k != "env_step"}) for r in rows
    ]
    # a resumed run continues the same W&B run
    assert run.kw["id"] == (tmp_path / "run" / ID_FILE).read_text().strip()
    wandb_sink(cfg, tmp_path / "run")
    assert fake_wandb[1].kw["id"] == run.kw["id"]


def test_missing_wandb_is_a_clear_error_before_any_work(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "wandb", None)  # import wandb raises ImportError
    with pytest.raises(ValueError, match=r"pip install 'simbarl\[wandb\]'"):
        train(tiny_config.tiny(tmp_path, wandb=True))
    assert not (tmp_path / "run").exists()


def test_offline_wandb_receives_the_rows(tmp_path, monkeypatch):
    wandb = pytest.importorskip("wandb")
    monkeypatch.setenv("WANDB_MODE", "offline")
    monkeypatch.setenv("WANDB_SILENT", "true")
    cfg = tiny_config.tiny(tmp_path, wandb=True)
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    logger = Logger(run_dir, tensorboard=False, sink=wandb_sink(cfg, run_dir))
    logger.log({"env_step": 100, "dynamics/critic/elr/total": 0.25})
    logger.log({"env_step": 200, "eval/return": 7.5})
    logger.close()
    assert wandb.run is None
    # wandb >= 0.2x keeps offline runs as protobuf records (read by its Go core): the
    # history keys, values and the config appear in the file as their JSON/strings.
    (records,) = run_dir.glob("wandb/offline-run-*/run-*.wandb")
    data = records.read_bytes()
    for text in ("dynamics/critic/elr/total", "0.25", "eval/return", "7.5", "cartpole-swingup"):
        assert text.encode() in data, text
