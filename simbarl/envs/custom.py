"""Your own environments: ``MODULE:ID`` ids, Gymnasium's syntax for "import MODULE, then
make ID".

``mypkg.envs:MyPend-v0`` imports ``mypkg.envs``, whose import registers ``MyPend-v0``
with ``gymnasium.register``; ``jax:mypkg.tasks:Swing`` imports ``mypkg.tasks``, whose
import registers the pure-JAX task ``Swing`` with ``device_tasks.register_jax_task``, for
the device loop. The run keeps the whole id in its ``config.json``, so ``--resume``, ``simbarl
eval`` and a sweep's workers import the module again; it must be importable there
(installed, on ``PYTHONPATH``, or in the working directory).
"""

from __future__ import annotations

import importlib

import gymnasium as gym

# Prefixes that are simbarl's suites, never a module name.
SUITE_PREFIXES = ("dmc", "mjx", "brax", "jax")


def split_module(env_id: str) -> tuple[str | None, str]:
    """``(module, id)`` of a ``MODULE:ID`` id; ``(None, env_id)`` for any other."""
    module, sep, name = env_id.partition(":")
    if not sep or module in SUITE_PREFIXES or not module or not name:
        return None, env_id
    return module, name


def import_env_module(module: str, env_id: str) -> None:
    """Import the module an id names, or say why it cannot be imported."""
    try:
        importlib.import_module(module)
    except ModuleNotFoundError as e:
        if e.name is not None and module.startswith(e.name):
            raise ValueError(
                f"environment id {env_id!r}: no module named {module!r} can be imported. "
                "Install it, put its folder on PYTHONPATH or run from the folder that holds it"
            ) from e
        raise ValueError(
            f"environment id {env_id!r}: importing module {module!r} failed: {e}"
        ) from e
    except Exception as e:  # the module's own code failed
        raise ValueError(
            f"environment id {env_id!r}: importing module {module!r} failed: "
            f"{type(e).__name__}: {e}"
        ) from e


def gym_id(env_id: str) -> str:
    """The Gymnasium id to make for ``env_id``: after importing ``MODULE`` of a
    ``MODULE:ID`` id (which must register ``ID``), ``ID``; any other id as it is."""
    module, name = split_module(env_id)
    if module is None:
        return env_id
    import_env_module(module, env_id)
    if name not in gym.registry:
        raise ValueError(
            f"environment id {env_id!r}: module {module!r} was imported but Gymnasium has no "
            f"{name!r}: the module must call gymnasium.register(id={name!r}, "
            "entry_point=...) when it is imported"
        )
    return name


def jax_task_id(env_id: str) -> str:
    """``jax:NAME`` for ``jax:MODULE:NAME`` after importing ``MODULE``, which must register
    ``NAME`` (``register_jax_task``); ``jax:NAME`` as it is."""
    from simbarl.envs.toy import TOY_TASKS

    rest = env_id.split(":", 1)[1]
    module, sep, name = rest.rpartition(":")
    if not sep:
        return env_id
    import_env_module(module, env_id)
    if name not in TOY_TASKS:
        raise ValueError(
            f"environment id {env_id!r}: module {module!r} was imported but registered no "
            f"pure-JAX task {name!r}: the module must call "
            f"simbarl.envs.register_jax_task({name!r}, TaskClass) when it is imported"
        )
    return f"jax:{name}"
