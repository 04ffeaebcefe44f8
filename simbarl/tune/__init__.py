"""``simbarl tune``: hyperparameter search with Optuna, each trial a ``simbarl train`` run."""
