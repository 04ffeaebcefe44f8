"""``simbarl analyze`` on small run directories: figure, CSV, grouping and clear errors."""

import csv
import json

import numpy as np

from simbarl.analysis import dynamics
from simbarl.analysis.dynamics import NETWORKS, PANELS
from simbarl.cli import main


def fake_run(path, preset, seed, scale, dynamics=True):
    """A run directory as simbarl train writes it, with made-up values."""
    path.mkdir(parents=True)
    cfg = {"env": "dmc:cheetah-run", "preset": preset, "algo": "sac", "seed": seed, "vmap_seeds": 1}
    (path / "config.json").write_text(json.dumps(cfg))
    rows = []
    for step in (1000, 2000, 3000):
        rows.append({"env_step": step, "eval/return": scale * step / 1000 + seed})
        if dynamics:
            row = {"env_step": step}
            for net in NETWORKS:
                for _, metric in PANELS[1:]:
                    row[f"dynamics/{net}/{metric}"] = scale * step + seed
            rows.append(row)
    (path / "metrics.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


def test_analyze_groups_seeds_and_writes_figure_and_csv(tmp_path, capsys):
    runs = [fake_run(tmp_path / f"simba{s}", "simba", s, 2.0) for s in (0, 1)]
    runs += [fake_run(tmp_path / f"v2_{s}", "simbav2-small", s, 1.0) for s in (0, 1)]
    out = tmp_path / "figs"
    assert main(["analyze", *map(str, runs), "--out", str(out), "--csv"]) == 0
    for ext in ("png", "svg", "csv"):
        assert (out / f"dynamics.{ext}").stat().st_size > 0
    with open(out / "dynamics.csv") as f:
        rows = list(csv.DictReader(f))
    labels = {r["label"] for r in rows}
    assert labels == {"simba on dmc:cheetah-run", "simbav2-small on dmc:cheetah-run"}
    pick = [
        r
        for r in rows
        if r["label"].startswith("simba ")
        and r["network"] == "critic"
        and r["metric"] == "elr/total"
        and r["env_step"] == "2000"
    ]
    assert len(pick) == 1 and pick[0]["seeds"] == "2"
    np.testing.assert_allclose(float(pick[0]["mean"]), 2.0 * 2000 + 0.5)  # seeds 0 and 1


def test_analyze_names_a_run_without_dynamics(tmp_path, capsys):
    good = fake_run(tmp_path / "good", "simba", 0, 1.0)
    bad = fake_run(tmp_path / "bad", "simba", 0, 1.0, dynamics=False)
    assert main(["analyze", str(good), str(bad), "--out", str(tmp_path / "o")]) == 2
    err = capsys.readouterr().err
    assert str(bad) in err and "--analyze-every" in err and "Traceback" not in err
    assert main(["analyze", str(tmp_path / "nowhere"), "--out", str(tmp_path / "o")]) == 2
    assert "not a simbarl run directory" in capsys.readouterr().err


def test_dynamics_figure_labels_env_steps_like_the_learning_curves(tmp_path):
    runs = [str(fake_run(tmp_path / "v2", "simbav2-small", 0, 1.0))]
    fig = dynamics.figure(dynamics.series(dynamics.collect(runs)))
    visible = [ax for ax in fig.axes if ax.get_visible()]
    assert visible and all(ax.xaxis.get_major_formatter()(150_000, 0) == "150k" for ax in visible)
