"""The NaN guard: no loop trains on, logs, evaluates or checkpoints a diverged learner.

Every loop calls ``check_finite`` before each checkpoint and at each log row.
The first non-finite loss or array stops the run with ``NonFiniteError``;
because the check comes before the write, the run's ``checkpoint.npz`` still
holds the last finite state.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np


class NonFiniteError(FloatingPointError):
    """Training produced NaN or inf; the message says where and what to change."""


@jax.jit
def _finite_leaves(tree):
    return [jnp.all(jnp.isfinite(x)) for x in jax.tree.leaves(tree)]


def non_finite_arrays(tree) -> tuple[list[str], int]:
    """Paths of the floating-point arrays of ``tree`` holding NaN or inf, and their count."""
    leaves = jax.tree_util.tree_flatten_with_path(tree)[0]
    floats = [(p, x) for p, x in leaves if jnp.issubdtype(jnp.result_type(x), jnp.inexact)]
    ok = jax.device_get(_finite_leaves([x for _, x in floats]))
    bad = [jax.tree_util.keystr(p) for (p, _), good in zip(floats, ok, strict=True) if not good]
    return bad, len(floats)


def _hint(cfg) -> str:
    a = cfg.agent
    rate = max(a.learning_rate, a.learning_rate_end)
    if rate > 1e-2:
        return (
            f"the learning rate {rate:g} is far above the usual 1e-4 to 1e-3: lower "
            "--agent.learning-rate and --agent.learning-rate-end"
        )
    return (
        f"lower the learning rate (now {a.learning_rate:g}) or look for extreme "
        "rewards or observations"
    )


def check_finite(learner, metrics, cfg, run_dir) -> None:
    """Raise ``NonFiniteError`` if the learner or the last losses hold NaN or inf.

    Args:
        learner: the learner state (stacked over seeds or not).
        metrics: the last update call's metrics (a dict of arrays), or ``{}``.
        cfg: the run's ``TrainConfig``, for the hint.
        run_dir: where the last finite checkpoint is.
    """
    bad, total = non_finite_arrays(learner)
    values = {k: np.asarray(v) for k, v in jax.device_get(metrics or {}).items()}
    losses = [k for k, v in values.items() if not np.all(np.isfinite(v))]
    if not bad and not losses:
        return
    update = int(np.asarray(learner.step).reshape(-1)[0])
    what = []
    if losses:
        what.append(f"non-finite {', '.join(sorted(losses))}")
    if bad:
        shown = ", ".join(bad[:3]) + (", ..." if len(bad) > 3 else "")
        what.append(f"{len(bad)} of {total} learner arrays non-finite ({shown})")
    raise NonFiniteError(
        f"training diverged at update {update}: {'; '.join(what)}. Stopped without "
        f"checkpointing it; {run_dir} keeps its last finite checkpoint (if any). Hint: "
        f"{_hint(cfg)}"
    )
