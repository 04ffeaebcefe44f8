"""Hyperparameter search: search spaces (shared by every search) and ``simbarl tune`` (Optuna)."""
