"""Environments: task ids, suite presets and adapters to the Gymnasium API."""

from simbarl.envs.device_tasks import register_jax_task
from simbarl.envs.registry import TaskSpec, make_env, resolve_task

__all__ = ["TaskSpec", "make_env", "register_jax_task", "resolve_task"]
