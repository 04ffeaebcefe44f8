"""benchmarks/peers/rounds.py, the side-by-side drivers' shared steps: a worker's last
line of output is its row, a failed worker stops the run with its stderr, the sides
alternate round by round, and the results file is written whole."""

import json
import sys

import pytest

from tests.benchmark_scripts import load_benchmark

rounds = load_benchmark("peers/rounds")


def test_a_worker_s_last_line_is_its_row():
    code = "print('compiling...'); print('{\"updates_per_s\": 12.5}')"
    assert rounds.run_worker([sys.executable, "-c", code], "simbarl") == {"updates_per_s": 12.5}


def test_a_failed_worker_stops_the_run_with_its_stderr():
    code = "import sys; sys.stderr.write('no torch here'); sys.exit(3)"
    with pytest.raises(SystemExit, match="official .* failed:\nno torch here"):
        rounds.run_worker([sys.executable, "-c", code], "official")


def test_the_sides_alternate_round_by_round():
    order = list(rounds.alternating(["a", "b", "c"], 3))
    assert order == [(0, "a"), (0, "b"), (0, "c"), (1, "c"), (1, "b"), (1, "a"),
                     (2, "a"), (2, "b"), (2, "c")]  # fmt: skip
    assert rounds.best_and_median([3.0, 9.0, 4.0, 5.0]) == (9.0, 4.5)


def test_the_results_file_is_written_whole(tmp_path):
    path = tmp_path / "peers" / "cpu.json"
    rounds.write_json(str(path), {"meta": rounds.machine_meta(env="HalfCheetah-v4")})
    meta = json.loads(path.read_text())["meta"]
    assert list(meta)[:3] == ["machine", "cpu", "cpus"] and meta["env"] == "HalfCheetah-v4"
    assert list(meta)[-1] == "date_utc" and [p.name for p in path.parent.iterdir()] == ["cpu.json"]
    rounds.write_json(None, {"ignored": True})  # no --json: nothing written
