"""Registering a test's own pure-JAX task as ``jax:NAME`` for the duration of a test."""

from simbarl.envs import device_tasks, toy


def registered(monkeypatch, task_class):
    """Generator for a fixture: ``jax:<class name>`` while the test runs (the task
    cache is cleared on both sides, so no other test sees it)."""
    name = task_class.__name__
    monkeypatch.setitem(toy.TOY_TASKS, name, task_class)
    device_tasks._load.cache_clear()
    yield f"jax:{name}"
    device_tasks._load.cache_clear()
