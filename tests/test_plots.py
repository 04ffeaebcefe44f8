"""simbarl plot: learning curves with bands and published curves, aggregate intervals."""

import numpy as np
import pytest

from simbarl.analysis.plots import aggregate_intervals, curve_band, learning_curves, step_label
from simbarl.cli import main
from simbarl.sweep.results import aggregate_table, write_csv


def _rows():
    rng = np.random.default_rng(0)
    rows = []
    for system, level in (("a", 1.0), ("b", 0.5)):
        for task, top in (("dmc:cartpole-swingup", 800.0), ("HalfCheetah-v5", 6000.0)):
            for seed in range(3):
                for step in (0, 50_000, 100_000):
                    value = level * top * step / 100_000 + rng.normal(0, 10)
                    rows.append(
                        dict(
                            system=system,
                            task=task,
                            metric="avg_return",
                            env_step=step,
                            value=value,
                            seed=seed,
                        )
                    )
    return rows


def test_curve_band_is_the_mean_with_a_band_around_it():
    rows = [dict(env_step=s, value=v) for s, v in ((0, 1.0), (0, 3.0), (10, 5.0), (10, 5.0))]
    steps, mean, lo, hi = curve_band(rows)
    np.testing.assert_array_equal(steps, [0, 10])
    np.testing.assert_allclose(mean, [2.0, 5.0])
    assert lo[0] < 2.0 < hi[0] and 1.0 <= lo[0] and hi[0] <= 3.0
    assert lo[1] == hi[1] == 5.0  # identical seeds: no spread


def test_learning_curves_draw_each_system_and_the_published_curve():
    fig = learning_curves(_rows(), published=("simbaV2_utd2",))
    axes = [ax for ax in fig.axes if ax.get_visible()]
    assert [ax.get_title() for ax in axes] == ["HalfCheetah-v5", "dmc:cartpole-swingup"]
    for ax in axes:
        labels = [line.get_label() for line in ax.get_lines()]
        assert labels[:3] == ["a", "b", "simbaV2_utd2 (published)"]
        published = ax.get_lines()[2]
        assert max(published.get_xdata()) <= 105_000  # clipped to our budget, not the paper's
        assert published.get_linestyle() == "None"  # points, never a line between them
        np.testing.assert_array_equal(ax.get_lines()[0].get_xdata(), [0, 50_000, 100_000])


def test_step_ticks_read_as_people_say_them():
    """150000 printed in full overlaps its neighbours in a 4-inch panel."""
    assert [step_label(x) for x in (0, 500, 5_000, 150_000, 1_000_000, 2_500_000)] == [
        "0", "500", "5k", "150k", "1M", "2.5M",
    ]  # fmt: skip
    ax = learning_curves(_rows(), published=()).axes[0]
    assert ax.xaxis.get_major_formatter()(100_000, 0) == "100k"


def test_aggregate_intervals_one_panel_per_aggregate():
    aggs = aggregate_table(_rows(), reps=100)
    fig = aggregate_intervals(aggs)
    assert [ax.get_title() for ax in fig.axes] == ["Mean", "Median", "IQM", "Optimality gap"]
    assert [t.get_text() for t in fig.axes[0].get_yticklabels()] == ["a", "b"]
    lo, hi = fig.axes[2].get_xlim()
    for a in aggs:
        if a["group"] == "overall":
            assert lo < a["iqm"]["ci_low"] <= a["iqm"]["ci_high"] < hi


def test_plot_command_writes_png_and_svg(tmp_path, capsys):
    write_csv(tmp_path / "results.csv", _rows())
    assert main(["plot", str(tmp_path / "results.csv"), "--out", str(tmp_path / "fig")]) == 0
    for name in ("curves", "aggregates"):
        assert (tmp_path / "fig" / f"{name}.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
        assert b"<svg" in (tmp_path / "fig" / f"{name}.svg").read_bytes()[:1000]
    assert main(["plot", str(tmp_path / "results.csv"), "--systems", "zzz"]) == 2
    assert "no rows left" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["plot", str(tmp_path / "results.csv"), "--format", "gif"])


def test_headline_figure_from_the_committed_results():
    """benchmarks/headline_figure.py: published points as markers (0 and 100k for DMC),
    ours on both budgets where run, and a caption naming budgets, seeds and machine."""
    import importlib.util
    from pathlib import Path

    path = Path(__file__).resolve().parents[1] / "benchmarks" / "headline_figure.py"
    spec = importlib.util.spec_from_file_location("headline_figure", path)
    headline = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(headline)
    data = headline.load()
    fig = headline.draw(data)
    axes = fig.axes
    assert [ax.get_title() for ax in axes] == [
        t.removeprefix("dmc:") for t in sorted(data["short"])
    ]
    for ax in axes:
        published = [ln for ln in ax.get_lines() if ln.get_label().startswith("published")]
        assert len(published) == 1 and published[0].get_linestyle() == "None"
        assert list(published[0].get_xdata()) == [0, 100_000]
    walker = axes[-1]
    assert {ln.get_label() for ln in walker.get_lines()} >= {
        "ours, 100k budget", "ours, 1M schedule read at 100k"
    }  # fmt: skip
    text = " ".join(t.get_text() for t in fig.texts)
    assert "100k-step budget" in text and "1M-step" in text and "2-core" in text
    assert "3 seeds" in text and "10 seeds" in text
