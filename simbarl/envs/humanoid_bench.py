"""HumanoidBench as users install it, adapted at import time to simbarl's stack.

HumanoidBench (github.com/carlosferrazza/humanoid-bench, commit 791405f) is
written for gymnasium 0.29, mujoco 3.1.6 and dm_control 1.0.20, with torch.
simbarl runs it unmodified, installed with ``pip install --no-deps -e``, on
gymnasium 1.x, mujoco 3.17 and dm_control 1.0.50. :func:`import_humanoid_bench`
imports it with these runtime adjustments, each one needed by the 14 H1 tasks:

1. **torch.** ``wrappers.py`` and ``envs/{reach,push,package}.py`` import
   ``TorchModel``/``TorchPolicy`` from ``humanoid_bench.mjx.flax_to_torch``,
   which imports torch. Only the hierarchical (``policy_type=reach_*``) wrappers
   call them, never the H1 tasks. Where torch is missing, that one module is a
   stand-in whose classes raise a clear error if used.
2. **Size table.** ``dmc_deps/dmc_index.py`` reads array shapes from its own
   copy of dm_control's table (``dmc_deps/dmc_sizes.py``, MuJoCo 3.1), which
   names fields that mujoco 3.17 no longer has (``flex_evpair``). It is pointed
   at dm_control's table, which matches the installed mujoco.
3. **Render signature.** ``Task.render`` (and ``Reach``/``Push``) call
   ``mujoco_renderer.render(mode, camera_id, camera_name)``, gymnasium 0.29's
   signature; gymnasium 1.x takes the mode only (the camera is fixed when the
   renderer is built, from the same env attributes). Their goal markers pass a
   scalar ``size`` and a tuple ``rgba``, which mujoco 3.17's ``mjv_initGeom``
   refuses; they are passed as arrays.
4. **Render mode.** ``HumanoidEnv`` defaults to ``render_mode="rgb_array"``,
   which opens an OpenGL context in every env (and fails headless); the default
   becomes ``None``, Gymnasium's convention. Pass ``render_mode="rgb_array"``
   for video.
5. **Seeding.** ``h1-sit_hard`` (chair pose) and ``h1-reach`` (goal) draw their
   reset from the global ``np.random``, so ``reset(seed=...)`` does not repeat
   an episode. Each reset now draws from a generator seeded by the env's own
   ``np_random``; the process's global state is left as it was.

Before importing, the installed files are checked against the ones this
adapter was written for (:data:`KNOWN_FILES`); where they differ, the import
stops with :class:`HumanoidBenchMismatch` saying which files and what to do.
``SIMBARL_HUMANOID_BENCH_ANY_VERSION=1`` skips that check at your own risk.
"""

from __future__ import annotations

import functools
import hashlib
import importlib
import importlib.util
import os
import sys
import types
from pathlib import Path

import numpy as np

KNOWN_COMMIT = "791405f"
UPSTREAM = "https://github.com/carlosferrazza/humanoid-bench"
ANY_VERSION_ENV = "SIMBARL_HUMANOID_BENCH_ANY_VERSION"

# sha256 (first 16 hex digits) of the Python files the 14 H1 tasks run or the
# adjustments touch, at KNOWN_COMMIT; paths relative to the package directory.
KNOWN_FILES = {
    "__init__.py": "acfac15b9f6617db",
    "env.py": "736cd2e2a3243c63",
    "tasks.py": "47866f0eab03676e",
    "robots.py": "b9e8e6a033a760ce",
    "wrappers.py": "64575d9b33809346",
    "dmc_deps/dmc_index.py": "dd48f29b969e0c85",
    "dmc_deps/dmc_util.py": "85ffd7012dd02520",
    "dmc_deps/dmc_wrapper.py": "ba51a83fdb285ce7",
    "envs/basic_locomotion_envs.py": "d05cb3ee859fa523",
    "envs/maze.py": "5d97ac90c8487205",
    "envs/pole.py": "e940d44693bad0d3",
    "envs/balance.py": "674fcac35c218bd5",
    "envs/reach.py": "f8dfc62b7af7bafe",
    "envs/push.py": "fa4aed41a2b5483c",
    "envs/package.py": "272208df8e7cb47d",
}
H1_TASKS = (
    "walk stand run reach hurdle crawl maze sit_simple sit_hard balance_simple "
    "balance_hard stair slide pole"
).split()
# The 14 tasks' scene files, hashed together (file name and content, in order).
SCENE_FILES = (
    "assets/common/floor.xml",
    "assets/common/visual.xml",
    "assets/robots/h1_pos.xml",
    *(f"assets/envs/h1_pos_{t}.xml" for t in H1_TASKS),
)
KNOWN_SCENES = "d2dc9034eb2faf39"
TORCH_MODULE = "humanoid_bench.mjx.flax_to_torch"


class HumanoidBenchMismatch(ValueError):
    """The installed HumanoidBench is not the one this adapter was written for."""


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()[:16]


def _scenes_digest(root: Path) -> str | None:
    h = hashlib.sha256()
    for rel in SCENE_FILES:
        path = root / rel
        if not path.is_file():
            return None
        h.update(rel.encode())
        h.update(hashlib.sha256(path.read_bytes()).digest())
    return h.hexdigest()[:16]


def check_files(root: Path) -> list[str]:
    """What differs between the package at ``root`` and :data:`KNOWN_COMMIT` (empty if nothing)."""
    problems = []
    for rel, known in KNOWN_FILES.items():
        path = root / rel
        if not path.is_file():
            problems.append(f"{rel} is missing")
        elif _sha(path.read_bytes()) != known:
            problems.append(f"{rel} differs")
    scenes = _scenes_digest(root)
    if scenes is None:
        problems.append("the H1 scene files (assets/envs/h1_pos_<task>.xml, ...) are missing")
    elif scenes != KNOWN_SCENES:
        problems.append("the H1 scene files (assets/envs/h1_pos_<task>.xml, ...) differ")
    return problems


def _mismatch(root: Path | str, what: str) -> HumanoidBenchMismatch:
    return HumanoidBenchMismatch(
        f"the HumanoidBench installed at {root} is not the one simbarl's adapter "
        f"(simbarl/envs/humanoid_bench.py) was written for, upstream commit {KNOWN_COMMIT}: "
        f"{what}. Install that commit: git clone {UPSTREAM} && git -C humanoid-bench "
        f"checkout {KNOWN_COMMIT} && pip install --no-deps -e humanoid-bench (or set "
        f"{ANY_VERSION_ENV}=1 to try this one unchecked; its tasks may then differ from "
        "the published ones)."
    )


class _NeedsTorch:
    """Stands in for ``TorchModel``/``TorchPolicy`` where torch is not installed."""

    def __init__(self, *args, **kwargs):
        raise ImportError(
            "this HumanoidBench feature (the hierarchical policy_type=reach_* wrappers) "
            "needs torch, which simbarl does not install; the H1 tasks never use it. "
            "pip install torch to use it."
        )


def _torch_stand_in() -> types.ModuleType:
    module = types.ModuleType(TORCH_MODULE, "simbarl's stand-in: torch is not installed")
    module.TorchModel = type("TorchModel", (_NeedsTorch,), {})
    module.TorchPolicy = type("TorchPolicy", (_NeedsTorch,), {})
    return module


def _fit_renderer(env) -> None:
    """Give one env's renderer and viewer the call shapes HumanoidBench uses."""
    render = env.mujoco_renderer.render

    def render_compat(render_mode=None, camera_id=None, camera_name=None):
        # The camera was fixed from env.camera_id/camera_name when the renderer was built.
        return render(render_mode)

    env.mujoco_renderer.render = render_compat
    viewer = getattr(env, "viewer", None)  # set by Task.__init__ when render_mode is given
    if viewer is not None:
        add_marker = viewer.add_marker

        def add_marker_compat(**marker):
            if "size" in marker:
                marker["size"] = np.broadcast_to(np.asarray(marker["size"], np.float64), 3)
            if "rgba" in marker:
                marker["rgba"] = np.asarray(marker["rgba"], np.float64)
            return add_marker(**marker)

        viewer.add_marker = add_marker_compat


def _adapt(hb_env, dmc_index) -> None:
    """Adjustments 2-5 on the imported modules (idempotent)."""
    from dm_control.mujoco.wrapper.mjbindings import sizes

    dmc_index.sizes = sizes  # 2
    cls = hb_env.HumanoidEnv
    if getattr(cls, "_simbarl_adapted", False):
        return
    init, reset_model = cls.__init__, cls.reset_model

    def __init__(self, robot=None, control=None, task=None, render_mode=None, **kwargs):
        init(self, robot, control, task, render_mode=render_mode, **kwargs)  # 4
        _fit_renderer(self)  # 3

    @functools.wraps(reset_model)
    def reset_model_seeded(self):  # 5
        saved = np.random.get_state()
        np.random.seed(int(self.np_random.integers(2**32)))
        try:
            return reset_model(self)
        finally:
            np.random.set_state(saved)

    cls.__init__, cls.reset_model = __init__, reset_model_seeded
    cls._simbarl_adapted = True


def import_humanoid_bench() -> types.ModuleType:
    """Import HumanoidBench (registering its Gymnasium ids) with the adjustments above.

    Raises ``ModuleNotFoundError`` when it is not installed and
    :class:`HumanoidBenchMismatch` when it is not the version this adapter knows.
    """
    spec = importlib.util.find_spec("humanoid_bench")
    if spec is None or not spec.submodule_search_locations:
        raise ModuleNotFoundError("No module named 'humanoid_bench'", name="humanoid_bench")
    root = Path(next(iter(spec.submodule_search_locations)))
    if os.environ.get(ANY_VERSION_ENV) != "1":
        problems = check_files(root)
        if problems:
            raise _mismatch(root, "; ".join(problems))
    if TORCH_MODULE not in sys.modules and importlib.util.find_spec("torch") is None:
        sys.modules[TORCH_MODULE] = _torch_stand_in()  # 1
    try:
        module = importlib.import_module("humanoid_bench")
        hb_env = importlib.import_module("humanoid_bench.env")
        dmc_index = importlib.import_module("humanoid_bench.dmc_deps.dmc_index")
        _ = hb_env.HumanoidEnv.reset_model, dmc_index.sizes
    except ImportError as e:
        if isinstance(e, ModuleNotFoundError) and (e.name or "").split(".")[0] != "humanoid_bench":
            raise  # one of its dependencies is missing: the caller says which
        raise _mismatch(root, f"importing it failed: {e}") from e
    except AttributeError as e:
        raise _mismatch(root, f"{e}") from e
    _adapt(hb_env, dmc_index)
    return module
