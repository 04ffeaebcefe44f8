"""Training loops, evaluation, checkpoints and logging."""
