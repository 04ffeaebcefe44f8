"""Algorithms as losses and update orders over shared pieces."""
