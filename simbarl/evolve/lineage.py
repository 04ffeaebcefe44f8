"""The lineage of an evolve run's elite, read from ``population.jsonl``, and its figure.

A member keeps its id while it survives as the elite; an offspring gets a new id
and names its parent's. The lineage of the final elite is its chain of parents;
in each generation, the ancestor alive then is the newest member of the chain
that has a row in that generation.
"""

from __future__ import annotations

import json
from pathlib import Path

from simbarl.evolve.rows import POPULATION_FILE, whole_row

FIGURE_FILE = "lineage"  # lineage.png and lineage.svg


def read_rows(run_dir: str | Path) -> list[dict]:
    """The rows of ``RUN/population.jsonl`` (a line cut short by a kill is skipped)."""
    path = Path(run_dir) / POPULATION_FILE
    if not path.is_file():
        raise ValueError(f"{path} does not exist: is {run_dir} a simbarl evolve run directory?")
    rows = [json.loads(line) for line in path.read_text().splitlines() if whole_row(line)]
    if not rows:
        raise ValueError(f"{path} holds no generation yet")
    return rows


def elite_lineage(rows: list[dict]) -> list[dict]:
    """One row per generation: the final elite's ancestor alive in that generation."""
    last = max(r["generation"] for r in rows)
    final = [r for r in rows if r["generation"] == last and r.get("elite")]
    if not final:
        raise ValueError(f"generation {last} of population.jsonl marks no elite")
    parent = {r["id"]: r["parent"] for r in rows}
    chain, member = [], final[0]["id"]
    while member is not None and member not in chain:
        chain.append(member)
        member = parent.get(member)
    rank = {m: i for i, m in enumerate(chain)}  # 0: the final elite, then older ancestors
    path = []
    for g in sorted({r["generation"] for r in rows}):
        alive = [r for r in rows if r["generation"] == g and r["id"] in rank]
        if alive:
            path.append(min(alive, key=lambda r: rank[r["id"]]))
    return path


def draw_lineage(run_dir: str | Path) -> list[Path]:
    """``RUN/lineage.png`` and ``.svg``: every member's fitness per generation with the
    final elite's lineage, its learning rate, and its actor and critic shapes."""
    from simbarl.analysis.plots import _pyplot

    run_dir = Path(run_dir)
    rows = read_rows(run_dir)
    path = elite_lineage(rows)
    plt = _pyplot()
    fig, (ax_fit, ax_lr, ax_arch) = plt.subplots(
        3, 1, figsize=(7, 8), sharex=True, gridspec_kw={"height_ratios": [2, 1, 1]}
    )
    members = [r for r in rows if r["fitness"] is not None]
    ax_fit.scatter(
        [r["generation"] for r in members],
        [r["fitness"] for r in members],
        s=14,
        color="0.6",
        label="members",
    )
    gens = [r["generation"] for r in path]
    ax_fit.plot(gens, [r["fitness"] for r in path], "o-", color="C3", label="lineage of the elite")
    for r in path:
        kind = r["mutation"].split(":")[0]
        if not kind.startswith("none") and r["fitness"] is not None:
            ax_fit.annotate(
                kind,
                (r["generation"], r["fitness"]),
                fontsize=7,
                xytext=(3, 4),
                textcoords="offset points",
            )
    ax_fit.set_ylabel("fitness")
    ax_fit.legend(loc="lower right", fontsize=8)
    ax_fit.set_title(f"{run_dir.name}: fitness per generation")
    lr = [r["hyperparameters"].get("agent.learning_rate") for r in path]
    if any(v is not None for v in lr):
        ax_lr.plot(gens, lr, "o-", color="C0")
        ax_lr.set_yscale("log")
    ax_lr.set_ylabel("learning rate")
    for net, color in (("critic", "C2"), ("actor", "C1")):
        width = [r["architecture"][net]["width"] for r in path]
        blocks = [r["architecture"][net]["num_blocks"] for r in path]
        ax_arch.plot(gens, width, "o-", color=color, label=f"{net} width")
        for g, w, b in zip(gens, width, blocks, strict=True):
            ax_arch.annotate(str(b), (g, w), fontsize=7, xytext=(0, 5), textcoords="offset points")
    ax_arch.set_ylabel("width (labels: blocks)")
    ax_arch.set_xlabel("generation")
    ax_arch.xaxis.get_major_locator().set_params(integer=True)
    ax_arch.legend(loc="best", fontsize=8)
    fig.tight_layout()
    out = [run_dir / f"{FIGURE_FILE}.png", run_dir / f"{FIGURE_FILE}.svg"]
    for p in out:
        fig.savefig(p)
    plt.close(fig)
    return out
