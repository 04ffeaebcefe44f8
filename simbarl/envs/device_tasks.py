"""Tasks that run on the accelerator: MuJoCo Playground (``mjx:NAME``), Brax's
MJX environments (``brax:NAME``, ``envs/brax_tasks.py``) and simbarl's pure-JAX
tasks (``jax:NAME``), trained by the device loop.

Playground ids are its registry names: ``mjx:CartpoleBalance``,
``mjx:CheetahRun``, ``mjx:Go1JoystickFlatTerrain``. Its physics backend is
chosen by ``impl``: ``auto`` uses the pure-JAX MJX path on a CPU (Playground's
default Warp path is about 100x slower there) and the task's own default on an
accelerator; ``jax`` or ``warp`` force one. Its locomotion and manipulation
tasks need MuJoCo Menagerie, checked before loading (``envs/menagerie.py``).
"""

from __future__ import annotations

import difflib
import functools
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from simbarl.envs.brax_tasks import BRAX_PREFIX

MJX_PREFIX = "mjx:"
JAX_PREFIX = "jax:"
PLAYGROUND_INSTALL = "pip install -e '.[playground]' (MuJoCo Playground, MJX, Warp)"


def is_device_task(env_id: str) -> bool:
    return env_id.startswith((MJX_PREFIX, JAX_PREFIX, BRAX_PREFIX))


@dataclass(frozen=True)
class DeviceTask:
    env_id: str
    env: Any  # reset(key) / step(state, action), see envs/vector_jax.py
    obs_dim: int
    action_dim: int
    episode_length: int  # raw simulator (control) steps
    obs_fn: Callable  # state -> observation array
    actor_obs_dim: int | None = None  # asymmetric: the actor's leading part; None: all
    suite: str = "jax"  # its SUITES entry (envs/registry.py): playground, playground_dmc, brax, jax
    # the actions the env takes, per dimension, that the agent's [-1, 1] maps to
    # (``envs/bounds.py``); empty: the env takes [-1, 1] itself
    action_low: tuple[float, ...] = ()
    action_high: tuple[float, ...] = ()

    @property
    def bounds(self) -> tuple[tuple[float, ...], tuple[float, ...]]:
        """``(low, high)`` of the actions the env takes: its own, or ``[-1, 1]``."""
        ones = (1.0,) * self.action_dim
        return self.action_low or tuple(-x for x in ones), self.action_high or ones


def _playground():
    try:
        from mujoco_playground import registry
    except ImportError as e:
        raise ValueError(
            f"mjx: tasks need MuJoCo Playground, which cannot be imported ({e}). "
            f"Install it: {PLAYGROUND_INSTALL}"
        ) from e
    return registry


def playground_tasks() -> list[str]:
    """Every task name in the installed Playground's registry."""
    return sorted(_playground().ALL_ENVS)


def resolve_impl(impl: str) -> str | None:
    """The ``impl`` override for Playground, or None for the task's default.

    ``auto``: MJX's pure-JAX path on a CPU (Warp is about 100x slower there); on an
    accelerator the task's default (Warp for most tasks), or the JAX path where
    Warp is not installed."""
    if impl != "auto":
        return impl
    import importlib.util

    import jax

    if jax.default_backend() == "cpu" or importlib.util.find_spec("warp") is None:
        return "jax"
    return None


def _check_name(env_id: str, known: list[str]) -> str:
    name = env_id.split(":", 1)[1]
    if name not in known:
        prefix = env_id.split(":", 1)[0] + ":"
        close = difflib.get_close_matches(name, known, n=5, cutoff=0.5)
        hint = f" Did you mean: {', '.join(prefix + c for c in close)}?" if close else ""
        raise ValueError(f"unknown environment id {env_id!r}.{hint}")
    return name


def _state_obs(state):
    """Locomotion tasks observe a dict; the actor and critic see its ``state``."""
    obs = state.obs
    return obs["state"] if isinstance(obs, dict) else obs


def _privileged_obs(state):
    """Asymmetric observations: the critics and the replay see ``privileged_state``."""
    return state.obs["privileged_state"]


def observation_layout(env_id: str, size, asymmetric: bool) -> tuple[int, int | None, Callable]:
    """``(obs_dim, actor_obs_dim, obs_fn)`` of a task observing ``size`` (its
    ``observation_size``: an int, a shape, or a dict of them).

    A dict needs a ``state`` entry. With ``asymmetric`` and a ``privileged_state``
    entry, the observation is the privileged state and the actor reads its first
    ``state``-sized part: Playground's privileged state begins with the state
    (FlashSAC's handling, its envs/mujoco_playground.py). Otherwise the ``state``."""
    if not isinstance(size, dict):
        return int(np.prod(size)), None, _state_obs
    if "state" not in size:
        raise ValueError(f"{env_id} observes {sorted(size)}; simbarl needs a 'state' entry")
    state = int(np.prod(size["state"]))
    if not (asymmetric and "privileged_state" in size):
        return state, None, _state_obs
    privileged = int(np.prod(size["privileged_state"]))
    if privileged < state:
        raise ValueError(
            f"{env_id}: its privileged_state ({privileged}) is shorter than its state "
            f"({state}), so it cannot begin with it; train without --asymmetric-observation"
        )
    return privileged, state, _privileged_obs


def register_jax_task(name: str, factory: Callable) -> None:
    """Make ``jax:NAME`` (and ``jax:MODULE:NAME`` once ``MODULE`` calls this on import,
    ``envs/custom.py``) train ``factory()``: an object with ``reset(key)``,
    ``step(state, action)``, ``observation_size``, ``action_size`` and
    ``episode_length``, as ``envs/toy.py``'s ``PointMass``."""
    from simbarl.envs import toy

    toy.TOY_TASKS[name] = factory
    _load.cache_clear()


def load_device_task(env_id: str, impl: str = "auto", asymmetric: bool = False) -> DeviceTask:
    """Load a ``jax:``, ``mjx:`` or ``brax:`` task (cached: loading a Playground or Brax
    task takes seconds). ``asymmetric``: observe the privileged state where the task has one
    (``observation_layout``)."""
    return _load(env_id, resolve_impl(impl) if env_id.startswith(MJX_PREFIX) else None, asymmetric)


@functools.lru_cache(maxsize=8)
def _load(env_id: str, impl: str | None, asymmetric: bool = False) -> DeviceTask:
    bounds = (), ()
    if env_id.startswith(JAX_PREFIX):
        from simbarl.envs.custom import jax_task_id
        from simbarl.envs.toy import TOY_TASKS

        env = TOY_TASKS[_check_name(jax_task_id(env_id), sorted(TOY_TASKS))]()
        length, size = int(env.episode_length), env.observation_size
    elif env_id.startswith(BRAX_PREFIX):
        from simbarl.envs import brax_tasks

        env = brax_tasks.make(env_id)
        length, size = brax_tasks.EPISODE_LENGTH, brax_tasks.observation_size(env)
        bounds = brax_tasks.action_bounds(env_id, env)
    else:
        from simbarl.envs.menagerie import check_menagerie

        registry = _playground()
        name = _check_name(env_id, sorted(registry.ALL_ENVS))
        check_menagerie(env_id)
        overrides = {} if impl is None else {"impl": impl}
        env = registry.load(name, config_overrides=overrides)
        length = int(getattr(registry.get_default_config(name), "episode_length", 1000))
        size = env.observation_size
    obs_dim, actor_dim, obs_fn = observation_layout(env_id, size, asymmetric)
    action_dim = int(env.action_size)
    suite = suite_of(env_id)
    return DeviceTask(env_id, env, obs_dim, action_dim, length, obs_fn, actor_dim, suite, *bounds)


def suite_of(env_id: str) -> str:
    """The suite whose defaults a device task takes: ``playground_dmc`` for
    Playground's DM Control Suite ports, ``playground`` for its other tasks, ``brax``, ``jax``."""
    if env_id.startswith(JAX_PREFIX):
        return "jax"
    if env_id.startswith(BRAX_PREFIX):
        return "brax"
    name = env_id.split(":", 1)[1]
    return "playground_dmc" if name in _playground().dm_control_suite.ALL_ENVS else "playground"
