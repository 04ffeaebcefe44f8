"""One convention for config fields on every command line (``--set KEY=VALUE`` and the
dotted flags), run labels made of the preset and the fields a run changes, and a
resume refused by naming only the fields that differ."""

import dataclasses
import json
import types

import pytest

from simbarl.analysis.dynamics import default_label
from simbarl.cli import main
from simbarl.config import (
    config_flags,
    config_to_dict,
    differences,
    parse_config,
    preset,
    run_label,
)
from simbarl.runs import run_dir as rd
from tests.tiny_config import tiny


def test_config_flags_reads_set_and_dotted_flags_in_order():
    overrides, rest = config_flags(
        [
            *("--set", "eval_every=3", "agent.tau=0.01"),
            *("--agent.critic.width", "32", "--no-tensorboard", "--reset-at", "10", "20"),
            *("--action-low=-1", "--algo", "td3", "--out", "x", "--wandb-group", "2024"),
            *("--checkpoint", "false", "--progress", "plain"),
        ]
    )
    assert overrides == [
        "eval_every=3",
        "agent.tau=0.01",
        "agent.critic.width=32",
        "tensorboard=false",
        "reset_at=[10, 20]",
        "action_low=[-1]",
        "algo=td3",
        'wandb_group="2024"',  # a string field keeps its text
        "checkpoint=false",
        "progress=plain",
    ]
    assert rest == ["--out", "x"]  # not a config field: the command's own
    assert config_flags(["--set", "a=1", "--agent.critic.width", "32"], dotted=False) == (
        ["a=1"],
        ["--agent.critic.width", "32"],
    )
    with pytest.raises(ValueError, match="KEY=VALUE"):
        config_flags(["--set", "width"])
    with pytest.raises(ValueError, match="takes one value"):
        config_flags(["--agent.critic.width", "32", "64"])


def _capture(monkeypatch, module, name, result):
    seen = []

    def fake(cfg, *args, **kwargs):
        seen.append(cfg)
        return result

    monkeypatch.setattr(module, name, fake)
    return seen


def test_train_and_evolve_take_set_and_their_flags_win(monkeypatch, tmp_path):
    from simbarl.evolve import evolve as evolve_module
    from simbarl.train import run as run_module

    done = types.SimpleNamespace(
        interrupted=False, env_step=1, eval_returns=[(1, 0.0)], run_dir=tmp_path
    )
    seen = _capture(monkeypatch, run_module, "train", done)
    argv = ["train", "--set", "agent.critic.width=32", "batch_size=64", "--batch-size", "16"]
    assert main([*argv, "--no-progress"]) == 0
    cfg = seen[-1]
    assert (cfg.agent.critic.width, cfg.batch_size, cfg.progress) == (32, 16, "off")

    evolved = types.SimpleNamespace(
        run_dir=tmp_path, generation=0, interrupted=False, best_fitness=[]
    )
    seen = _capture(monkeypatch, evolve_module, "evolve", evolved)
    assert main(["evolve", "--set", "agent.critic.width=48", "--env", "Pendulum-v1"]) == 0
    assert seen[-1].agent.critic.width == 48 and seen[-1].env == "Pendulum-v1"
    assert main(["train", "--set", "agent.critic.wdth=32"]) == 2  # named, before any run


def test_sweep_and_tune_take_dotted_flags(tmp_path, capsys):
    out = tmp_path / "sweep"
    argv = ["sweep", "--tasks", "Pendulum-v1", "--seeds", "1", "--out", str(out), "--dry-run"]
    assert main([*argv, "--agent.critic.width", "32", "--eval-every", "500"]) == 0
    shown = capsys.readouterr().out
    # the label says what the config changes; --eval-every (how it is measured) does not
    assert f"{out}/Pendulum-v1/simbav2-small_agent.critic.width=32/seed0" in shown
    with pytest.raises(SystemExit):  # argparse's usage error, exit status 2
        main([*argv, "--agent.critic.wdth", "32"])
    assert "unrecognized arguments: --agent.critic.wdth 32" in capsys.readouterr().err

    from simbarl.tune.command import _config_flags, _parser, build_spec

    p = _parser()
    args, unknown = p.parse_known_args(
        ["--env", "Pendulum-v1", "--out", str(tmp_path / "tune"), "--set", "batch_size=64"]
        + ["--agent.critic.width", "32", "--seed", "3"]
    )
    args.set = [*args.set, *_config_flags(p, unknown)]
    spec = build_spec(args)
    assert spec.base["agent"]["critic"]["width"] == 32 and spec.base["batch_size"] == 64
    assert args.seed == 3 and spec.base["seed"] == 0  # tune's own --seed (the sampler's)


def test_labels_are_the_preset_and_the_fields_a_run_changes(tmp_path):
    assert parse_config("simbav2-small", ["steps=1000", "eval_every=10"])[0] == "simbav2-small"
    label, _ = parse_config("simbav2-small", ["steps=1000", "agent.critic.width=32"])
    assert label == "simbav2-small_agent.critic.width=32"
    # a spec's own overrides keep their place and text (existing sweeps keep their dirs)
    label, _ = parse_config("simbav2-small:algo=td3", ["agent.critic.width=32", "algo=sac"])
    assert label == "simbav2-small_algo=td3_agent.critic.width=32"
    assert parse_config("mine=simbav2-small", ["agent.critic.width=32"])[0] == "mine"

    # a run's label from its config.json: what resolving for the task filled is not a change
    cfg, _ = rd.resolve(tiny(tmp_path, env="Pendulum-v1", preset="simbav2-small"))
    base = preset("simbav2-small")
    same = dataclasses.replace(cfg, agent=base.agent, batch_size=base.batch_size)
    same = dataclasses.replace(same, updates_per_step=base.updates_per_step)
    same = dataclasses.replace(same, warmup_steps=base.warmup_steps)
    assert run_label(config_to_dict(same)) == "simbav2-small"
    wide = dataclasses.replace(same.agent, critic=dataclasses.replace(same.agent.critic, width=32))
    d = config_to_dict(dataclasses.replace(same, agent=wide))
    assert run_label(d) == "simbav2-small agent.critic.width=32"
    d["algo"] = "td3"
    assert run_label(d) == "td3 simbav2-small agent.critic.width=32"
    assert run_label(config_to_dict(preset("flashsac"))) == "flashsac"  # not "flashsac flashsac"
    run = tmp_path / "wide"
    run.mkdir()
    (run / "config.json").write_text(
        json.dumps(config_to_dict(dataclasses.replace(same, agent=wide)))
    )
    assert default_label(run) == "simbav2-small agent.critic.width=32 on Pendulum-v1"


def test_a_resume_that_changes_a_field_names_that_field_only(tmp_path, capsys):
    cfg, _ = rd.resolve(tiny(tmp_path, env="Pendulum-v1"))
    run = rd.create(cfg)
    (run / rd.CHECKPOINT_FILE).write_bytes(b"")  # only its presence is checked first
    wide = dataclasses.replace(cfg.agent, critic=dataclasses.replace(cfg.agent.critic, width=64))
    with pytest.raises(ValueError) as e:
        rd.check_resumable(run, dataclasses.replace(cfg, agent=wide, batch_size=8))
    lines = str(e.value).splitlines()
    assert lines[1:] == [
        "  agent.critic.width: run has 32, you asked for 64",
        "  batch_size: run has 32, you asked for 8",
    ]
    assert main(["train", "--resume", str(run), "--agent.critic.width", "64"]) == 2
    err = capsys.readouterr().err
    assert "agent.critic.width: run has 32, you asked for 64" in err
    assert "learning_rate" not in err and len(err.splitlines()) == 2
    assert differences({"a": {"b": 1, "c": (1, 2)}}, {"a": {"b": 2, "c": [1, 2]}}) == [
        ("a.b", 1, 2)
    ]


def test_a_sweep_started_before_set_fields_were_labelled_keeps_its_directories(tmp_path, capsys):
    out = tmp_path / "sweep"
    argv = ["sweep", "--tasks", "Pendulum-v1", "--seeds", "1", "--out", str(out), "--dry-run"]
    argv += ["--set", "agent.critic.width=32"]
    assert main(argv) == 0
    new_dir = f"{out}/Pendulum-v1/simbav2-small_agent.critic.width=32/seed0"
    assert new_dir in capsys.readouterr().out
    # sweep.json as an earlier simbarl wrote it, the run labelled by its preset alone
    _, d = parse_config("simbav2-small", ["agent.critic.width=32"])
    old_dir = f"{out}/Pendulum-v1/simbav2-small/seed0"
    run = {"task": "Pendulum-v1", "label": "simbav2-small", "seed": 0, "run_dir": old_dir}
    run["config"] = {**d, "env": "Pendulum-v1", "seed": 0, "run_dir": old_dir}
    out.mkdir()
    (out / "sweep.json").write_text(json.dumps({"argv": [], "runs": [run]}))
    assert main(argv) == 0
    shown = capsys.readouterr().out
    assert old_dir in shown and new_dir not in shown
