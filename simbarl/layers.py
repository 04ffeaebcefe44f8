"""The packages of ``simbarl`` in layers, bottom-up: a module imports only its own layer
and the layers below it.

This is the one place the order is declared. ``tests/test_import_graph.py`` fails on
any import that goes up (imports inside functions count) and on a module of no
declared layer; ``docs/architecture.md`` draws its layer block from this list.
``simbarl/__init__.py``, the public API, sits above them all.
"""

from __future__ import annotations

LAYERS: tuple[tuple[str, str], ...] = (
    ("layers.py", "this list"),
    ("files.py", "atomic file writes"),
    (
        "config/",
        "schema (fields and their metadata), presets, validate, io (dicts, dotted paths), resolve",
    ),
    ("envs/", "task ids, suites, adapters to the Gymnasium API, JAX tasks"),
    ("replay/", "replay buffers as pure jax structs: uniform, prioritized, recency, n-step"),
    ("normalizers.py", "running statistics (RSNorm), the reward scaler, float32 normalization"),
    ("networks/", "flax modules: encoders (SimbaV2, SimBa, MLP, FlashSAC) and heads"),
    ("agents/", "algorithms as losses and update orders: sac, td3 (and ddpg), tqc, flashsac"),
    ("datasets.py", "offline datasets (Minari, local files) as episodes and a replay buffer"),
    ("reference.py", "published learning curves shipped with the package"),
    ("data/", "package data: published curves, the default search space"),
    (
        "runs/",
        "run directories (the one creator), checkpoint, metrics, lock, loop state, learner, load",
    ),
    ("export/", "simbarl export: a run's policy as an ONNX model (jax2onnx) or a policy file"),
    ("analysis/", "scores (IQM, bootstrap intervals), plots, FLOP counts, training dynamics"),
    ("train/", "the host and device loops and what they share (step, probe, seeds, warm start)"),
    ("offline/", "offline training, collecting and exporting datasets"),
    ("sweep/", "tasks x configs x seeds on local processes or Ray; results and score tables"),
    ("search_space.py", "the search-space format shared by simbarl tune and simbarl evolve"),
    ("tune/", "simbarl tune: the Optuna study, trials, workers, storage, report"),
    ("evolve/", "simbarl evolve: populations, tournament, mutations, resize, groups"),
    ("cli.py", "simbarl COMMAND: argument parsing, each command loaded when it runs"),
)


def layer_names() -> list[str]:
    """The layers' module names (``config``, ``normalizers``), bottom-up."""
    return [name.removesuffix("/").removesuffix(".py") for name, _ in LAYERS]


def layer_block() -> str:
    """The layers top-down as the text block ``docs/architecture.md`` shows."""
    width = max(len(name) for name, _ in LAYERS) + 2
    lines = [f"{name:<{width}}{what}" for name, what in reversed(LAYERS)]
    return "```text\n" + "\n".join(lines) + "\n```"
