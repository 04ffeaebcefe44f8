"""The published FlashSAC curves: ``benchmarks/published_flashsac.py`` reduces the
official per-seed files to mean and std over seeds, replaces only its own rows, keeps
the table's line ending, and the package's table holds its output."""

import csv

import pytest

from simbarl.reference import published_curve
from tests.benchmark_scripts import load_benchmark

HEAD = ",exp_name,env_name,seed,metric,env_step,value\n"


def _official(tmp_path, lines: list[str]):
    path = tmp_path / "stateRL_cpusim_FlashSAC.csv"
    path.write_text(HEAD + "".join(f"{i},{line}\n" for i, line in enumerate(lines)))
    return path


def test_reduce_takes_mean_and_population_std_and_drops_success_nobody_reached(tmp_path):
    script = load_benchmark("published_flashsac")
    path = _official(
        tmp_path,
        [
            "FlashSAC,Hop-v4,0,avg_return,100000.0,1.0",
            "FlashSAC,Hop-v4,1,avg_return,100000.0,3.0",
            "FlashSAC,Hop-v4,0,avg_success,100000.0,0.0",
            "FlashSAC,Hop-v4,1,avg_success,100000.0,0.0",
            "FlashSAC,myo-x,0,avg_success,0.0,0.0",
            "FlashSAC,myo-x,1,avg_success,0.0,0.5",
        ],
    )
    rows = script.reduce([path])
    got = {
        (r["task"], r["metric"], r["env_step"]): (r["mean"], r["std"], r["n_seeds"]) for r in rows
    }
    assert got == {
        ("Hop-v4", "avg_return", 100_000): ("2", "1", 2),
        ("myo-x", "avg_success", 0): ("0.25", "0.25", 2),
    }


def test_reduce_refuses_a_seed_twice_and_another_method(tmp_path):
    script = load_benchmark("published_flashsac")
    twice = ["FlashSAC,Hop-v4,0,avg_return,0.0,1.0", "FlashSAC,Hop-v4,0,avg_return,0.0,2.0"]
    with pytest.raises(ValueError, match="twice"):
        script.reduce([_official(tmp_path, twice)])
    with pytest.raises(ValueError, match="exp_name"):
        script.reduce([_official(tmp_path, ["SimbaV2,Hop-v4,0,avg_return,0.0,1.0"])])


@pytest.mark.parametrize("ending", ["\n", "\r\n"])
def test_write_replaces_only_its_own_rows_and_keeps_the_line_ending(tmp_path, ending):
    script = load_benchmark("published_flashsac")
    table = tmp_path / "published_curves.csv"
    lines = [
        "system,task,metric,env_step,mean,std,n_seeds",
        "simbaV2_utd2,Hop-v4,avg_return,0,1,0,10",
        "flashsac,Old-v4,avg_return,0,9,9,5",
    ]
    table.write_bytes(ending.join(lines).encode() + ending.encode())
    new = {"system": "flashsac", "task": "Hop-v4", "metric": "avg_return", "env_step": 0,
           "mean": "2", "std": "1", "n_seeds": 2}  # fmt: skip
    for _ in range(2):  # running it again changes nothing
        assert script.write([new], table) == 1
        assert (
            table.read_bytes()
            == (ending.join([*lines[:2], "flashsac,Hop-v4,avg_return,0,2,1,2"]) + ending).encode()
        )
    with table.open(newline="") as f:
        assert [r["system"] for r in csv.DictReader(f)] == ["simbaV2_utd2", "flashsac"]


def test_the_package_holds_the_published_flashsac_curves():
    """The issue's figures (five seeds, from the official files) read back through the
    package; the MuJoCo rows are -v4, so a -v5 task reads them too."""
    half = published_curve("HalfCheetah-v4", system="flashsac")
    assert sorted(half) == list(range(0, 1_000_001, 100_000))
    assert half[100_000] == pytest.approx((9815.07, 155.162, 5))
    assert published_curve("HalfCheetah-v5", system="flashsac") == half
    assert published_curve("Hopper-v4", system="flashsac")[1_000_000][0] == pytest.approx(4063.98)
    assert published_curve("h1-stand-v0", system="flashsac")[1_000_000][2] == 5
    assert published_curve("HalfCheetah-v4")[100_000][0] == pytest.approx(7328)  # SimbaV2 stays
