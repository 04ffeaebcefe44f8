"""What a trial scores: one number from its evaluations, maximized by the search.

``final`` is the return at the budget (what a user of the tuned config gets);
``auc`` is the mean of all evaluations, which rewards learning fast as well as
well; ``last-k`` is the mean of the last k evaluations, steadier than one noisy
evaluation. The same function gives the value reported at every evaluation
while a trial runs (the objective of the evaluations so far), so a pruner
compares trials on the quantity the study maximizes.
"""

from __future__ import annotations

OBJECTIVES = ("final", "auc", "last-k")


def objective_value(returns: list[float], objective: str, last_k: int = 3) -> float:
    """The objective of a run's evaluation returns (in order of env step)."""
    if not returns:
        raise ValueError("a trial needs at least one evaluation to be scored")
    if objective == "final":
        return float(returns[-1])
    if objective == "auc":
        return float(sum(returns) / len(returns))
    if objective == "last-k":
        tail = returns[-last_k:]
        return float(sum(tail) / len(tail))
    raise ValueError(f"unknown objective {objective!r}; choose one of {', '.join(OBJECTIVES)}")


def eval_returns(rows: list[dict]) -> list[tuple[int, float]]:
    """``(env_step, return)`` of each evaluation row of a ``metrics.jsonl``, by env step."""
    evals = {int(r["env_step"]): float(r["eval/return"]) for r in rows if "eval/return" in r}
    return sorted(evals.items())
