"""Run directories and what lives in them, below the loops that write them.

``run_dir`` (the one creator of run directories, ``config.json``, reopening and
the budget), ``checkpoint`` (atomic ``.npz`` trees), ``metrics`` (the metrics
writer and reader), ``lock`` (one process per run), ``loop_state`` (the
resumable counters and statistics), ``learner`` (a learner from a resolved
config), ``finite`` (the NaN guard) and ``load`` (a trained agent from a run).
"""
