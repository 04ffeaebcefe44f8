"""Warnings about the simulators' own files and setup, kept off the terminal.

GLFW's "DISPLAY environment variable is missing": with ``MUJOCO_GL`` unset, the first
import of dm_control (DMC, HumanoidBench, MyoSuite) tries GLFW, which warns with a
traceback on a machine without a display (a server, CI, the docs build) although no
env needs a renderer to train. Rendering there needs ``MUJOCO_GL=egl`` or ``osmesa``,
which ``simbarl eval --video`` sets before that import.

MuJoCo's compiler warnings about the simulators' own model files:
Gymnasium's ``half_cheetah.xml`` and dm_control's ``cheetah.xml`` set the compiler
attribute ``settotalmass``, which MuJoCo 3.x deprecates: every build of those tasks
(``simbarl tasks`` checks HalfCheetah-v4, a sweep builds cheetah envs again and again)
printed a warning the user can do nothing about. Only that message is dropped; any
other MuJoCo warning goes on to the previous handler, or to stderr as MuJoCo prints it.
"""

from __future__ import annotations

import contextlib
import sys
import warnings

# MuJoCo warnings about files we do not own, recognized by their text
THIRD_PARTY_MODEL_WARNINGS = ("compiler attribute 'settotalmass' is deprecated",)
NO_DISPLAY = r".*DISPLAY environment variable is missing"  # GLFWError's message


@contextlib.contextmanager
def no_display_warning():
    """Within the block, GLFW's warning that there is no display is ignored."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=NO_DISPLAY)
        yield


@contextlib.contextmanager
def quiet_env_build():
    """Within the block, GLFW's no-display warning and MuJoCo warnings of
    ``THIRD_PARTY_MODEL_WARNINGS`` are dropped."""
    try:
        import mujoco
    except ImportError:  # a suite without MuJoCo
        with no_display_warning():
            yield
        return
    previous = mujoco.get_mju_user_warning()

    def handler(message: str) -> None:
        if any(text in message for text in THIRD_PARTY_MODEL_WARNINGS):
            return
        if previous is not None:
            previous(message)
        else:  # MuJoCo's own format
            print(f"WARNING: {message}\n", file=sys.stderr, flush=True)

    mujoco.set_mju_user_warning(handler)
    try:
        with no_display_warning():
            yield
    finally:
        mujoco.set_mju_user_warning(previous)
