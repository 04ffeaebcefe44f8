"""Gymnasium's ``-v4`` MuJoCo tasks, the versions SimbaV2 was published on.

Gymnasium 1.x still registers them (on the ``mujoco`` bindings, as ``-v5``) but
marks them out of date and no longer maintains them, so a newer Gymnasium or
MuJoCo may drop or break them. Building one goes through ``make_gymnasium``,
which says so plainly instead of a bare registry or compiler error, and names
the ``-v5`` id that trains in its place (scored with the ``-v4`` numbers,
flagged; see ``benchmark_tasks.py``). Gymnasium's "is out of date" warning is
silenced for them: the old version is chosen on purpose.
"""

from __future__ import annotations

import warnings

import gymnasium as gym


def is_mujoco_v4(env_id: str) -> bool:
    """A Gymnasium MuJoCo ``-v4`` id (registered or not)."""
    if not env_id.endswith("-v4"):
        return False
    if env_id in gym.registry:
        return "mujoco" in str(gym.registry[env_id].entry_point)
    return f"{env_id[:-3]}-v5" in gym.registry and "mujoco" in str(
        gym.registry[f"{env_id[:-3]}-v5"].entry_point
    )


def _versions() -> str:
    try:
        import mujoco

        return f"gymnasium {gym.__version__} and mujoco {mujoco.__version__}"
    except ImportError:
        return f"gymnasium {gym.__version__} (mujoco not importable)"


def _instead(env_id: str) -> str:
    v5 = f"{env_id[:-3]}-v5"
    return (
        f"{env_id} is the version the SimbaV2 scores were published on. Install a "
        f"Gymnasium 1.x that still has it (pip install 'gymnasium>=1.0,<2'), or train "
        f"{v5} instead (scored with the -v4 numbers and marked 'published score is for -v4')."
    )


def unregistered_message(env_id: str) -> str | None:
    """The message for a MuJoCo ``-v4`` id this Gymnasium does not register, else None."""
    if env_id in gym.registry or not is_mujoco_v4(env_id):
        return None
    return f"{_versions()} do not register {env_id}. {_instead(env_id)}"


def make_gymnasium(env_id: str, render_mode: str | None = None) -> gym.Env:
    """``gym.make``; for a MuJoCo ``-v4`` id, quietly and with a clear error if it fails."""
    if not is_mujoco_v4(env_id):
        return gym.make(env_id, render_mode=render_mode)
    missing = unregistered_message(env_id)
    if missing:
        raise ValueError(missing)
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*is out of date.*")
        try:
            return gym.make(env_id, render_mode=render_mode)
        except Exception as e:  # the bindings or the model compiler, whatever broke
            raise ValueError(
                f"{env_id} does not build with {_versions()}: {type(e).__name__}: {e}. "
                f"{_instead(env_id)}"
            ) from e
