"""Multi-seed, multi-task sweeps on local processes or a Ray cluster (``simbarl sweep``)."""
