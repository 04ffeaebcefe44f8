"""Analysis helpers: compute accounting, scores and training dynamics."""
