"""The documentation site builds strictly: no broken link, no page left out of the
navigation, no bad docstring reference, every generated table from its result file."""

from __future__ import annotations

import html
import importlib
import importlib.util
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
pytestmark = pytest.mark.skipif(
    importlib.util.find_spec("mkdocs") is None, reason="the docs extra is not installed"
)


def test_docs_build_strictly(tmp_path):
    env = {**os.environ, "NO_MKDOCS_2_WARNING": "1"}
    done = subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir", str(tmp_path)],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    results = (tmp_path / "benchmarks" / "results" / "index.html").read_text()
    assert "generated:" not in results  # every marker was replaced
    assert "benchmarks/results/mini_suite/scores.json" in results  # provenance lines
    config = (tmp_path / "reference" / "configuration" / "index.html").read_text()
    assert "--agent.critic.width" in config and "Hidden width" in config
    # placeholders in angle brackets are shown, not swallowed as HTML tags
    text = html.unescape(re.sub(r"<[^>]+>", "", config))
    assert "runs/<env>/<preset>-seed<seed>-<time>" in text
    assert "RUN_DIR/seed<k>" in text
    assert not re.search(r"runs//|-seed-|/seed[;.,)\s]", text)
    api = html.unescape(re.sub(r"<[^>]+>", "", (tmp_path / "reference/api/index.html").read_text()))
    for name in ("make_env", "env_step", "bounds", "eval_returns", "interrupted", "on_log"):
        assert name in api, name
    assert (tmp_path / "figures" / "sac_family.svg").is_file()


def test_api_reference_names_resolve():
    """Each ``::: dotted.name`` of the API page is reachable by attribute access from its
    top-level package, as a reader would type it (``simbarl.train`` is a function, so
    ``simbarl.train.run.train`` is not)."""
    page = (ROOT / "docs" / "reference" / "api.md").read_text()
    names = re.findall(r"^::: ([\w.]+)", page, re.MULTILINE)
    assert "simbarl.RunResult" in names
    for name in names:
        heading = re.search(rf"^::: {re.escape(name)}\n(?:    .*\n)*?\s+heading: (\S+)", page,
                            re.MULTILINE)  # fmt: skip
        shown = heading.group(1) if heading else name
        parts = shown.split(".")
        obj = importlib.import_module(parts[0])
        for i, part in enumerate(parts[1:], 1):
            if not hasattr(obj, part):  # a submodule not imported yet
                importlib.import_module(".".join(parts[: i + 1]))
            obj = getattr(obj, part)
        module, _, attr = name.rpartition(".")
        assert obj is getattr(importlib.import_module(module), attr), (name, shown)


def test_generated_blocks_name_their_source():
    sys.path.insert(0, str(ROOT / "docs" / "_hooks"))
    try:
        import generate
    finally:
        sys.path.pop(0)
    for name, make in generate.GENERATORS.items():
        text = make()
        assert text.strip(), name
        if name.startswith("results-"):
            assert "*Source: `benchmarks/results/" in text, name


def test_readme_is_a_front_page():
    readme = (ROOT / "README.md").read_text()
    assert len(readme.splitlines()) <= 160
    assert "Quick start" in readme and ".ci/run" in readme


def test_flashsac_table_adds_full_size_runs_once_finished(tmp_path, monkeypatch):
    """The FlashSAC learning table shows a full-size ``flashsac`` row, with its own
    source line, only once ``flashsac_full/curves.json`` holds a finished seed."""
    sys.path.insert(0, str(ROOT / "docs" / "_hooks"))
    try:
        import generate
    finally:
        sys.path.pop(0)
    results = tmp_path / "benchmarks" / "results"
    for name in ("flashsac_small/curves.json", "peers/flashsac_learning_cpu.json"):
        (results / name).parent.mkdir(parents=True, exist_ok=True)
        (results / name).write_text((generate.RESULTS / name).read_text())
    monkeypatch.setattr(generate, "ROOT", tmp_path)
    monkeypatch.setattr(generate, "RESULTS", results)
    tmp_path = results
    label = "simbarl `flashsac`, full size, 1M budget"
    assert label not in generate.results_flashsac_small()

    full = json.loads((tmp_path / "flashsac_small/curves.json").read_text())
    entry = full["tasks"]["HalfCheetah-v4"]["flashsac"]
    full.update(preset="flashsac-budget1000000", seeds=[0])
    full["tasks"] = {"HalfCheetah-v4": {"flashsac": {
        **entry,
        "per_seed": {"0": [[20000, 1234.5], [100000, 9876.5]]},
        "curve": [{"env_step": 20000, "mean": 1234.5, "std": 0.0, "seeds": 1},
                  {"env_step": 100000, "mean": 9876.5, "std": 0.0, "seeds": 1}],
        "runs": {"0": {"train_seconds": 600.0, "machine": "Test CPU", "date": "2026-12-07"}},
    }}}  # fmt: skip
    (tmp_path / "flashsac_full").mkdir()
    (tmp_path / "flashsac_full/curves.json").write_text(json.dumps({**full, "tasks": {}}))
    assert label not in generate.results_flashsac_small()  # no finished seed yet

    (tmp_path / "flashsac_full/curves.json").write_text(json.dumps(full))
    text = generate.results_flashsac_small()
    row = next(line for line in text.splitlines() if label in line)
    assert "`HalfCheetah-v4`" in row and "9,876.5 ± 0.0" in row and "| 10 min |" in row
    assert "1M-step budget" in text
    assert "benchmarks/results/flashsac_full/curves.json" in text and "Test CPU" in text
    assert "official FlashSAC, same widths" in text  # the other arms stay
