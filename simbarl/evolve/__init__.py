"""``simbarl evolve``: evolutionary population training on one shared replay buffer."""
