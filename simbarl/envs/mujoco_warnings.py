"""MuJoCo's compiler warnings about the simulators' own model files, kept off the terminal.

Gymnasium's ``half_cheetah.xml`` and dm_control's ``cheetah.xml`` set the compiler
attribute ``settotalmass``, which MuJoCo 3.x deprecates: every build of those tasks
(``simbarl tasks`` checks HalfCheetah-v4, a sweep builds cheetah envs again and again)
printed a warning the user can do nothing about. Only that message is dropped; any
other MuJoCo warning goes on to the previous handler, or to stderr as MuJoCo prints it.
"""

from __future__ import annotations

import contextlib
import sys

# MuJoCo warnings about files we do not own, recognized by their text
THIRD_PARTY_MODEL_WARNINGS = ("compiler attribute 'settotalmass' is deprecated",)


@contextlib.contextmanager
def quiet_model_deprecations():
    """Within the block, MuJoCo warnings of ``THIRD_PARTY_MODEL_WARNINGS`` are dropped."""
    try:
        import mujoco
    except ImportError:  # a suite without MuJoCo
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
        yield
    finally:
        mujoco.set_mju_user_warning(previous)
