"""``simbarl tune``: a tiny Optuna study on Pendulum-v1 — trials, pruning, resuming, workers.

Returns after a few hundred steps are noise, so the test that needs a poor trial
makes one: the crafted trial's evaluations are reported 10,000 lower (the run
itself trains normally), which the median pruner must stop after its warm-up.
"""

import dataclasses
import json

import pytest

optuna = pytest.importorskip("optuna")

from simbarl.cli import main  # noqa: E402
from simbarl.config import config_from_dict, parse_config  # noqa: E402
from simbarl.runs.metrics import read_metrics  # noqa: E402
from simbarl.sweep.runner import checkpoint_step  # noqa: E402
from simbarl.train.callbacks import Callback  # noqa: E402
from simbarl.tune import trial as trial_module  # noqa: E402
from simbarl.tune.study import TuneSpec, evaluation_steps, open_study  # noqa: E402

# 300 env steps, evaluations at 100, 200 and 300 (one 200-step episode each).
TINY = [
    "steps=300",
    "warmup_steps=100",
    "eval_every=100",
    "eval_episodes=1",
    "log_every=100",
    "batch_size=16",
    "updates_per_step=1",
    "tensorboard=false",
    "agent.actor.width=16",
    "agent.critic.width=16",
    "agent.critic.num_blocks=1",
]
SPACE = {
    "params": [
        {"name": "agent.learning_rate", "type": "float", "low": 1e-4, "high": 1e-3, "log": True},
        {"name": "agent.tau", "type": "float", "low": 0.005, "high": 0.05},
    ]
}
CRAFTED = {"agent.learning_rate": 1e-4, "agent.tau": 0.005}
State = optuna.trial.TrialState


def _tune(tmp_path, out, *extra):
    space = tmp_path / "space.json"
    space.write_text(json.dumps(SPACE))
    argv = ["tune", "--env", "Pendulum-v1", "--space", str(space), "--out", str(out)]
    return main([*argv, "--seed", "1", "--set", *TINY, *extra])


def _evals(run_dir) -> list[int]:
    return [r["env_step"] for r in read_metrics(run_dir) if "eval/return" in r]


def test_study_prunes_resumes_and_writes_the_best_config(tmp_path, monkeypatch, capsys):
    out = tmp_path / "study"
    real_train = trial_module.train

    class Poorer(Callback):
        def __init__(self, pruner):
            self.pruner = pruner

        def on_eval(self, step, mean):
            return self.pruner.on_eval(step, mean - 1e4)

    def train(cfg, resume=None, callbacks=()):
        """The crafted trial reports poor returns; trial 3 is stopped as Ctrl-C would."""
        number = int(cfg.run_dir.rsplit("/", 1)[1])
        lr, tau = cfg.agent.learning_rate, cfg.agent.tau
        if (lr, tau) == tuple(CRAFTED.values()):
            callbacks = [Poorer(c) for c in callbacks]
        if number == 3 and resume is None:
            cfg = dataclasses.replace(cfg, pause_at=100)
        return real_train(cfg, resume, callbacks=callbacks)

    monkeypatch.setattr(trial_module, "train", train)
    # Two trials complete; the report and the best config are written.
    assert _tune(tmp_path, out, "--trials", "2", "--prune-after", "2") == 0
    spec = TuneSpec.load(out)
    study = open_study(spec)
    first = {t.number: t.value for t in study.trials}
    assert sorted(first) == [0, 1] and all(t.state == State.COMPLETE for t in study.trials)
    assert (out / "study.db").is_file()
    for name in ("report.txt", "optimization_history.png", "param_importances.svg"):
        assert (out / "report" / name).is_file()
    best = json.loads((out / "best_config.json").read_text())
    assert best["env"] == "Pendulum-v1" and best["run_dir"] is None
    assert best["agent"]["learning_rate"] == study.best_params["agent.learning_rate"]
    cfg = config_from_dict(parse_config(str(out / "best_config.json"))[1])  # train --config
    assert cfg.agent.tau == study.best_params["agent.tau"] and cfg.steps == 300

    # The same command, more trials: numbering continues at 2. The crafted poor trial is
    # pruned after its warm-up (the first of three evaluations) and keeps its run; trial 3
    # is interrupted after its checkpoint at 100 steps.
    study.enqueue_trial(CRAFTED)
    assert _tune(tmp_path, out, "--trials", "4", "--prune-after", "2") == 130
    study = open_study(spec)
    by_number = {t.number: t for t in study.trials}
    assert {n: by_number[n].value for n in (0, 1)} == first
    pruned = by_number[2]
    assert pruned.state == State.PRUNED and pruned.params == CRAFTED
    assert list(pruned.intermediate_values) == [100, 200]
    assert _evals(out / "trials" / "2") == [100, 200] and checkpoint_step(out / "trials/2") == 200
    assert by_number[3].state == State.FAIL and by_number[3].user_attrs["interrupted"]

    # Again: trial 4 takes over trial 3's run directory and resumes it from its checkpoint
    # (no pruner now: the pruner may change between sessions, and this trial must finish).
    assert _tune(tmp_path, out, "--trials", "4", "--pruner", "none") == 0
    study = open_study(spec)
    resumed = study.trials[4]
    assert len(study.trials) == 5 and resumed.state == State.COMPLETE
    assert resumed.user_attrs["resumed_from"] == 3 and resumed.params == by_number[3].params
    assert list(resumed.intermediate_values) == [100, 200, 300]
    assert _evals(out / "trials" / "4") == [100, 200, 300] and not (out / "trials/3").exists()
    # The report alone, any time.
    capsys.readouterr()
    assert main(["tune", "--report", str(out)]) == 0
    text = capsys.readouterr().out
    assert "5 trials: 3 complete, 1 fail, 1 pruned" in text and "best: trial" in text


def test_pruner_warm_up_is_a_third_of_the_evaluations():
    base = parse_config("simbav2-small", ["steps=50000", "eval_every=10000"])[1]
    assert evaluation_steps(base) == [10000, 20000, 30000, 40000, 50000]
    spec = TuneSpec(out="x", base=base, space=SPACE, trials=1, storage="sqlite:///x.db")
    from simbarl.tune.study import make_pruner

    assert make_pruner(spec)._n_warmup_steps == 30000  # 10k and 20k are never pruned


def test_two_workers_share_one_sqlite_study(tmp_path, shared_cache):
    out = tmp_path / "study"
    assert _tune(tmp_path, out, "--trials", "3", "--workers", "2", "--pruner", "none") == 0
    study = open_study(TuneSpec.load(out))
    assert sorted(t.number for t in study.trials) == [0, 1, 2]
    assert all(t.state == State.COMPLETE for t in study.trials)
    for t in study.trials:  # every trial's run is whole and is the one recorded
        assert _evals(t.user_attrs["run_dir"]) == [100, 200, 300]
    assert sorted(p.name for p in (out / "trials").iterdir()) == ["0", "1", "2"]
    logs = [(out / "logs" / f"worker{k}.log").read_text() for k in (0, 1)]
    assert all(f"tune worker {k}: done" in log for k, log in enumerate(logs))


def test_bad_space_or_storage_is_refused_before_anything_runs(tmp_path, capsys):
    out = tmp_path / "study"
    bad = tmp_path / "bad.json"
    bad.write_text(
        json.dumps([{"name": "agent.lerning_rate", "type": "float", "low": 0, "high": 1}])
    )
    assert main(["tune", "--out", str(out), "--space", str(bad)]) == 2
    assert "unknown config field 'agent.lerning_rate'" in capsys.readouterr().err
    empty = tmp_path / "empty.json"
    empty.write_text(json.dumps([{"name": "agent.tau", "type": "float", "low": 0.1, "high": 0.1}]))
    assert main(["tune", "--out", str(out), "--space", str(empty)]) == 2
    assert "is empty" in capsys.readouterr().err
    assert main(["tune", "--out", str(out), "--storage", "redis://localhost/0"]) == 2
    assert "storage 'redis://localhost/0' is not understood" in capsys.readouterr().err
    assert main(["tune", "--out", str(out), "--storage", "postgresql://nobody@127.0.0.1:9/x"]) == 2
    assert "cannot open the storage postgresql://" in capsys.readouterr().err
    assert not (out / "tune.json").exists()


def test_crashed_trial_is_rerun_from_its_checkpoint(tmp_path):
    """A worker that died mid-trial (its heartbeat stopped) leaves a running trial with a
    checkpoint; the next session fails it, re-queues it and resumes its run."""
    import time

    from simbarl.search_space import parse_space
    from simbarl.train.run import train
    from simbarl.tune.command import _parser, build_spec
    from simbarl.tune.trial import suggest, trial_config, trial_dir

    out = tmp_path / "study"
    space = tmp_path / "space.json"
    space.write_text(json.dumps(SPACE))
    argv = ["--env", "Pendulum-v1", "--space", str(space), "--out", str(out), "--seed", "1"]
    argv += ["--trials", "1", "--heartbeat", "1", "--pruner", "none", "--set", *TINY]
    spec = build_spec(_parser().parse_args(argv))
    spec.save()
    study = open_study(spec)
    crashed = study.ask()  # the dead worker's trial: 100 of 300 steps, then silence
    values = {p.name: suggest(crashed, p) for p in parse_space(SPACE).params}
    cfg = trial_config(spec, values, trial_dir(out, crashed.number))
    train(dataclasses.replace(cfg, pause_at=100))
    study._storage.record_heartbeat(crashed._trial_id)
    time.sleep(2.5)  # past the grace period of two heartbeats

    assert main(["tune", *argv]) == 0
    study = open_study(spec)
    first, rerun = study.trials
    assert first.state == State.FAIL and rerun.state == State.COMPLETE
    assert rerun.params == first.params and rerun.user_attrs["resumed_from"] == 0
    assert list(rerun.intermediate_values) == [100, 200, 300]
    assert _evals(out / "trials" / "1") == [100, 200, 300] and not (out / "trials/0").exists()


def test_train_starts_from_a_config_file(tmp_path, capsys):
    path = tmp_path / "best_config.json"
    path.write_text(json.dumps({"preset": "simbav2-small", "agent": {"tau": 0.0123}}))
    with pytest.raises(SystemExit):
        main(["train", "--config", str(path), "--help"])
    assert "0.0123" in capsys.readouterr().out  # the file's value is the flag's default
    assert main(["train", "--config", str(path), "--preset", "simbav2"]) == 2
    assert "--config names its own preset" in capsys.readouterr().err


def test_every_session_draws_new_values_reproducibly(tmp_path):
    """A re-run of a study is a new session: its sampler is seeded from the study's state,
    so its first draw is not the first session's again (issue 46: three sessions had
    drawn trial 0's learning rate three times), and the same state draws the same."""
    from simbarl.search_space import parse_space
    from simbarl.tune.study import session_seed
    from simbarl.tune.trial import suggest

    base = parse_config("simbav2-small", ["steps=300"])[1]
    storage = f"sqlite:///{tmp_path / 'study.db'}"
    spec = TuneSpec(out=str(tmp_path), base=base, space=SPACE, trials=3, storage=storage)
    params = parse_space(SPACE).params

    def session_draw(spec):
        study = open_study(spec)  # a new session: the sampler is made here
        trial = study.ask()
        values = {p.name: suggest(trial, p) for p in params}
        study.tell(trial, 0.0)
        return values

    first, second = session_draw(spec), session_draw(spec)
    assert first != second
    assert session_seed(1, 0, 0) == 1 and session_seed(1, 2, 0) == 3  # a new study: as before
    assert session_seed(1, 0, 1) == session_seed(1, 0, 1) != session_seed(1, 0, 2)
    assert session_seed(None, 0, 5) is None


def test_a_study_in_which_every_trial_failed_exits_non_zero_with_the_reason(tmp_path, capsys):
    """Every learning rate of this space diverges: the study ends with no trial
    completed, and says so with the first failure's reason (it exited 0 in silence)."""
    space = tmp_path / "diverging.json"
    rate = {"name": "agent.learning_rate", "type": "float", "low": 1e9, "high": 1e10}
    space.write_text(json.dumps({"params": [rate]}))
    out = tmp_path / "study"
    argv = ["tune", "--env", "Pendulum-v1", "--space", str(space), "--out", str(out)]
    argv += ["--trials", "1", "--set", *TINY, "agent.learning_rate_end=1e10"]
    assert main(argv) == 1
    err = capsys.readouterr().err
    assert "no trial completed; 1 failed. Trial 0: NonFiniteError: training diverged" in err


def test_report_reads_the_study_in_the_directory_it_is_given(tmp_path, capsys, monkeypatch):
    """A study copied elsewhere (or reported from another working directory) is read
    from there: its saved relative OUT and default storage follow the directory."""
    import shutil

    monkeypatch.chdir(tmp_path)
    space = tmp_path / "space.json"
    space.write_text(json.dumps(SPACE))
    argv = ["tune", "--env", "Pendulum-v1", "--space", "space.json", "--out", "study"]
    assert main([*argv, "--trials", "1", "--pruner", "none", "--set", *TINY]) == 0
    copy = tmp_path / "elsewhere" / "copy"
    shutil.copytree(tmp_path / "study", copy)
    (tmp_path / "study" / "best_config.json").unlink()
    monkeypatch.chdir(tmp_path / "elsewhere")
    capsys.readouterr()
    assert main(["tune", "--report", "copy"]) == 0
    assert "1 trials: 1 complete" in capsys.readouterr().out
    assert (copy / "best_config.json").is_file()
    assert not (tmp_path / "study" / "best_config.json").exists()  # the original is untouched
    assert not (tmp_path / "elsewhere" / "study").exists()  # no new empty study


@pytest.mark.parametrize("change", ["study-name", "storage", "emptied"])
def test_a_storage_that_does_not_record_the_trials_is_refused(tmp_path, capsys, change):
    """tune deleted and retrained a finished study's trials when the storage did not
    know them (a new --storage or --study-name, an emptied study.db); it refuses now,
    and the trial's rows and checkpoint stay."""
    out = tmp_path / "study"
    assert _tune(tmp_path, out, "--trials", "1", "--pruner", "none") == 0
    rows = (out / "trials" / "0" / "metrics.jsonl").read_text()
    extra = []
    if change == "study-name":
        extra = ["--study-name", "other"]
    elif change == "storage":
        extra = ["--storage", f"sqlite:///{tmp_path / 'other.db'}"]
    else:
        (out / "study.db").unlink()
    capsys.readouterr()
    assert _tune(tmp_path, out, "--trials", "2", "--pruner", "none", *extra) == 2
    err = capsys.readouterr().err
    assert "holds 1 trial run(s) with metrics (trials 0) that study" in err
    assert (out / "trials" / "0" / "metrics.jsonl").read_text() == rows
    assert (out / "trials" / "0" / "checkpoint.npz").is_file()
