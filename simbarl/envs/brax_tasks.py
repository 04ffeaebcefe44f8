"""Brax's own MJX environments (``brax:NAME``) for the device loop.

``brax:ant``, ``brax:humanoid``, ``brax:halfcheetah``, ``brax:hopper``,
``brax:walker2d`` and the rest of ``KNOWN``: Brax's ports of the Gymnasium MuJoCo
tasks, built with ``brax.envs.get_environment(NAME, backend="mjx")``. They ship
their own model files, so nothing is downloaded (unlike Playground's
locomotion tasks, which need MuJoCo Menagerie).

Brax's ``State`` has ``obs``, ``reward`` and ``done`` like Playground's (its
simulator state is ``pipeline_state`` where Playground's is ``data``), so
``envs/vector_jax.py`` steps both as they are. What a Brax env does not say
itself, simbarl sets here:

- **Episode length** 1000 control steps, the default of ``brax.envs.create`` and
  of Brax's training. The time limit is a truncation (bootstrapped); the env's
  ``done`` (the humanoid's torso leaving its healthy height) is a termination.
- **Action bounds**: the actuators' ``ctrlrange`` where the env hands the action
  to the simulator as it is; ``[-1, 1]`` where the env maps ``[-1, 1]`` onto the
  ``ctrlrange`` itself (``SCALES_ITSELF``: the humanoid's range is +-0.4).
"""

from __future__ import annotations

import warnings

import numpy as np

BRAX_PREFIX = "brax:"
BRAX_INSTALL = "pip install -e '.[brax]' (Brax, with MJX)"
EPISODE_LENGTH = 1000  # brax.envs.create's and brax.training's default

# Brax's environments that run on the MJX backend (brax 0.14: swimmer and fast do not).
KNOWN = (
    "ant",
    "halfcheetah",
    "hopper",
    "humanoid",
    "humanoidstandup",
    "inverted_double_pendulum",
    "inverted_pendulum",
    "pusher",
    "reacher",
    "walker2d",
)

# Envs whose step maps the action from [-1, 1] onto the actuators' ctrlrange before
# the simulator sees it (``action = (action + 1) * (max - min) * 0.5 + min`` in
# brax/envs/humanoid.py, humanoidstandup.py, inverted_pendulum.py, pusher.py).
# tests/test_brax.py checks, per task, that the agent's +-1 reaches the simulator
# as the ends of the ctrlrange.
SCALES_ITSELF = frozenset({"humanoid", "humanoidstandup", "inverted_pendulum", "pusher"})

# Brax warns on every build that its own pipelines are unmaintained; MJX, which these
# tasks use, is maintained, and the user can do nothing about the message.
UNMAINTAINED = r"Brax System, piplines and environments are not actively being maintained"


def _brax_envs():
    try:
        from brax import envs
    except ImportError as e:
        raise ValueError(
            f"brax: tasks need Brax, which cannot be imported ({e}). Install it: {BRAX_INSTALL}"
        ) from e
    return envs


def brax_name(env_id: str) -> str:
    """The Brax name of ``brax:NAME``, or a ``ValueError`` listing the known names."""
    name = env_id[len(BRAX_PREFIX) :]
    if name not in KNOWN:
        known = ", ".join(BRAX_PREFIX + k for k in KNOWN)
        raise ValueError(f"unknown environment id {env_id!r}: Brax's MJX tasks are {known}")
    return name


def make(env_id: str):
    """Brax's env for ``brax:NAME`` on the MJX backend."""
    from simbarl.envs.mujoco_warnings import quiet_env_build

    name = brax_name(env_id)
    envs = _brax_envs()
    with quiet_env_build(), warnings.catch_warnings():  # about Brax's own files
        warnings.filterwarnings("ignore", message=UNMAINTAINED)
        return envs.get_environment(name, backend="mjx")


def action_bounds(env_id: str, env) -> tuple[tuple[float, ...], tuple[float, ...]]:
    """``(low, high)`` of the actions the env takes: its actuators' ``ctrlrange``, or
    ``[-1, 1]`` where the env scales the action itself or the actuator is unlimited."""
    model = env.sys.mj_model
    n = int(env.action_size)
    low, high = -np.ones(n), np.ones(n)
    if brax_name(env_id) not in SCALES_ITSELF:
        limited = model.actuator_ctrllimited.astype(bool)
        low = np.where(limited, model.actuator_ctrlrange[:, 0], low)
        high = np.where(limited, model.actuator_ctrlrange[:, 1], high)
    return tuple(float(x) for x in low), tuple(float(x) for x in high)


def observation_size(env) -> int:
    """The length of the observation, read from the shapes of a traced reset (Brax's
    ``observation_size`` runs a reset, which takes seconds outside ``jit``)."""
    import jax

    state = jax.eval_shape(env.reset, jax.random.PRNGKey(0))
    return int(np.prod(state.obs.shape))
