"""Offline RL: Minari datasets from runs and files (``simbarl collect``, ``export-replay``)."""
