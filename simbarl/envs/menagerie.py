"""MuJoCo Menagerie for Playground's locomotion and manipulation tasks.

Playground (0.2) loads those robots from MuJoCo Menagerie, which it looks for at
one fixed path inside the installed package (``mjx_env.MENAGERIE_PATH``,
``mujoco_playground/external_deps/mujoco_menagerie``; no setting or environment
variable moves it) and, when it is missing, clones from GitHub on first use
(``mjx_env.ensure_menagerie_exists``). Without internet that clone hangs or fails
with a git error, and a directory left empty by an interrupted clone fails later
with a missing XML file. ``check_menagerie`` looks first and says what to do.
"""

from __future__ import annotations

from pathlib import Path

MENAGERIE_REPO = "https://github.com/google-deepmind/mujoco_menagerie"


def needs_menagerie(name: str) -> bool:
    """Whether Playground's task ``name`` loads its robot from Menagerie: every
    locomotion and manipulation task does (Playground ensures Menagerie before
    loading any of them); its DM Control Suite ports ship their own models."""
    from mujoco_playground._src import locomotion, manipulation

    return name in locomotion.ALL_ENVS or name in manipulation.ALL_ENVS


def menagerie_path() -> Path:
    """Where the installed Playground reads Menagerie from."""
    from mujoco_playground._src import mjx_env

    return Path(str(mjx_env.MENAGERIE_PATH))


def check_menagerie(env_id: str) -> None:
    """Raise ``ValueError`` when ``env_id`` needs Menagerie and it is not there,
    naming the directory Playground reads and how to fill it without a download."""
    name = env_id.split(":", 1)[1]
    if not needs_menagerie(name):
        return
    path = menagerie_path()
    if path.is_dir() and any(path.iterdir()):
        return
    from mujoco_playground._src import mjx_env

    state = "is empty (an interrupted download?)" if path.is_dir() else "does not exist"
    commit = mjx_env.MENAGERIE_COMMIT_SHA
    raise ValueError(
        f"{env_id} loads its robot from MuJoCo Menagerie, which MuJoCo Playground reads "
        f"from {path}; that directory {state}. Playground would clone it from GitHub "
        "on first use, which fails or hangs without internet. Playground reads no setting "
        "for this path, so put a copy there: clone it where there is internet "
        f"(git clone {MENAGERIE_REPO} && git -C mujoco_menagerie checkout {commit}, the "
        "commit this Playground expects) and copy the folder to that path, or symlink a "
        f"copy you have: mkdir -p {path.parent} && ln -s /path/to/mujoco_menagerie {path}"
    )
