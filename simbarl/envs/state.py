"""A running environment's state as arrays and JSON, so a resume continues its episode.

``env_state(env)`` captures, and ``restore_env_state(env, state)`` puts back, what
the next steps of an episode depend on, for the suites whose state can be read:

- **MuJoCo** (Gymnasium's tasks, and HumanoidBench's and MyoSuite's through the
  same bindings): MuJoCo's integration state (``mj_getState`` with
  ``mjSTATE_INTEGRATION``: time, qpos, qvel, act, qacc_warmstart, ctrl, applied
  forces, mocap poses, userdata, plugin state), every other ``MjData`` array
  whose size the model fixes (the positions and forces of the last step, which
  Gymnasium's Ant, Humanoid and Reacher read before the next one), the model
  arrays tasks move (targets: body, geom and site poses, sizes, colours), the
  env's ``np_random`` and the time limit's step counter.
- **DeepMind Control**: the same MuJoCo state of its physics, the control loop's
  step counter and the task's random state. dm_control keeps its physics one
  half-step ahead (``mj_step1`` after each step: contacts and constraints are
  current), so that is redone after restoring.
- **``jax:``/``mjx:``** tasks played on the host: the task's state pytree and
  its step count.

Restore into an env that has been reset with the episode's own seed: what a
task draws at reset into Python attributes (a goal) is then the same, and the
state above is written over it. The action repeat keeps nothing between agent
steps, and a checkpoint falls between them, so it has no phase to save.

``env_state`` returns None for an env of any other kind (classic control, a
plugin suite simbarl does not know): a resume restarts its episode.
"""

from __future__ import annotations

import dataclasses

import gymnasium as gym
import numpy as np

# Model arrays a task may change per episode (DMC places targets this way).
MODEL_FIELDS = (
    "body_pos body_quat body_mass geom_pos geom_quat geom_size geom_rgba "
    "site_pos site_quat site_size site_rgba light_pos light_dir mat_rgba hfield_data"
).split()
# MjData arrays never copied between processes: pointers and plugin handles.
SKIP_DATA = ("plugin", "plugin_data")


@dataclasses.dataclass
class EnvState:
    """One env's state: ``arrays`` (name -> array) and ``info`` (JSON: counters, RNGs)."""

    kind: str  # "mujoco", "dmc" or "jax"
    arrays: dict[str, np.ndarray]
    info: dict


def _wrappers(env: gym.Env):
    """``env`` and every env it wraps, outermost first."""
    while True:
        yield env
        inner = getattr(env, "env", None)
        if inner is None or env is env.unwrapped:
            return
        env = inner


def _fixed_fields(model, data) -> list[str]:
    """``MjData`` arrays whose shape the model fixes (not the per-step contact and
    constraint arrays, which are rebuilt by every step)."""
    import mujoco

    fresh = mujoco.MjData(model)
    names = []
    for name in dir(fresh):
        if name.startswith("_") or name in SKIP_DATA:
            continue
        value = getattr(fresh, name, None)
        if (
            isinstance(value, np.ndarray)
            and value.size
            and getattr(data, name).shape == value.shape
        ):
            names.append(name)
    return names


def mujoco_arrays(model, data) -> dict[str, np.ndarray]:
    """The MuJoCo part of a state: integration state, fixed-size data, model arrays."""
    import mujoco

    spec = mujoco.mjtState.mjSTATE_INTEGRATION
    state = np.empty(mujoco.mj_stateSize(model, spec), np.float64)
    mujoco.mj_getState(model, data, state, spec)
    arrays = {"integration": state}
    arrays.update({f"data/{n}": np.array(getattr(data, n)) for n in _fixed_fields(model, data)})
    for name in MODEL_FIELDS:
        value = getattr(model, name, None)
        if isinstance(value, np.ndarray) and value.size:
            arrays[f"model/{name}"] = np.array(value)
    return arrays


def restore_mujoco(model, data, arrays: dict[str, np.ndarray]) -> None:
    """Write a state of ``mujoco_arrays`` back; the integration state last."""
    import mujoco

    for key, value in arrays.items():
        owner, _, name = key.partition("/")
        if owner not in ("data", "model"):
            continue
        target = getattr(data if owner == "data" else model, name, None)
        if not isinstance(target, np.ndarray) or target.shape != value.shape:
            raise ValueError(f"the saved env state's {key} does not fit this task's model")
        target[...] = value
    mujoco.mj_setState(model, data, arrays["integration"], mujoco.mjtState.mjSTATE_INTEGRATION)


def _mujoco_of(env: gym.Env):
    """``(MjModel, MjData, half_step)`` of a MuJoCo-backed env (``env.model``, or
    MyoSuite's ``env.sim``), or None. ``half_step``: a dm_control physics that runs
    ``mj_step1`` after each step (``legacy_step``)."""
    try:
        import mujoco
    except ImportError:
        return None
    u = env.unwrapped
    for owner in (u, getattr(u, "sim", None)):
        model, data = getattr(owner, "model", None), getattr(owner, "data", None)
        model, data = getattr(model, "ptr", model), getattr(data, "ptr", data)
        if isinstance(model, mujoco.MjModel) and isinstance(data, mujoco.MjData):
            physics = getattr(owner, "sim", owner)  # MyoSuite: its dm_control Physics
            return model, data, owner is not u and bool(getattr(physics, "legacy_step", False))
    return None


def _half_step(model, data) -> None:
    """What dm_control keeps between steps: ``mj_step1`` (contacts, constraints)."""
    import mujoco

    mujoco.mj_step1(model, data)


def _common(env: gym.Env) -> dict:
    """JSON state every Gymnasium env has: its ``np_random`` and time-limit counters."""
    return {
        "np_random": env.unwrapped.np_random.bit_generator.state,
        "elapsed_steps": [w._elapsed_steps for w in _wrappers(env) if hasattr(w, "_elapsed_steps")],
    }


def _restore_common(env: gym.Env, info: dict) -> None:
    env.unwrapped.np_random.bit_generator.state = info["np_random"]
    limits = [w for w in _wrappers(env) if hasattr(w, "_elapsed_steps")]
    for wrapper, steps in zip(limits, info["elapsed_steps"], strict=True):
        wrapper._elapsed_steps = steps


def env_state(env: gym.Env) -> EnvState | None:
    """The state of ``env`` (reset at least once), or None where it cannot be read."""
    from simbarl.envs.dmc import DMCEnv
    from simbarl.envs.jax_gym import JaxGymEnv

    u = env.unwrapped
    info = _common(env)
    if isinstance(u, DMCEnv):
        physics, control = u._env.physics, u._env
        arrays = mujoco_arrays(physics.model.ptr, physics.data.ptr)
        task_random = control.task.random.get_state(legacy=False)
        arrays["task_random/key"] = task_random["state"]["key"]
        info.update(
            step_count=control._step_count,
            reset_next_step=control._reset_next_step,
            task_random_pos=task_random["state"]["pos"],
            task_random_gauss=[task_random["has_gauss"], task_random["gauss"]],
        )
        return EnvState("dmc", arrays, info)
    if isinstance(u, JaxGymEnv):
        import jax

        leaves = jax.tree.leaves(u._state)
        arrays = {f"leaf/{i}": np.asarray(x) for i, x in enumerate(leaves)}
        return EnvState("jax", arrays, {**info, "t": u._t})
    found = _mujoco_of(env)
    if found is None:
        return None
    return EnvState("mujoco", mujoco_arrays(*found[:2]), info)


def restore_env_state(env: gym.Env, state: EnvState) -> None:
    """Put ``state`` (of ``env_state``) back into ``env``, reset with the episode's seed."""
    from simbarl.envs.dmc import DMCEnv
    from simbarl.envs.jax_gym import JaxGymEnv

    u, info = env.unwrapped, state.info
    if state.kind == "dmc" and isinstance(u, DMCEnv):
        physics, control = u._env.physics, u._env
        restore_mujoco(physics.model.ptr, physics.data.ptr, state.arrays)
        if getattr(physics, "legacy_step", True):
            _half_step(physics.model.ptr, physics.data.ptr)
        has_gauss, gauss = info["task_random_gauss"]
        control.task.random.set_state(
            {
                "bit_generator": "MT19937",
                "state": {"key": state.arrays["task_random/key"], "pos": info["task_random_pos"]},
                "has_gauss": has_gauss,
                "gauss": gauss,
            }
        )
        control._step_count = info["step_count"]
        control._reset_next_step = info["reset_next_step"]
    elif state.kind == "jax" and isinstance(u, JaxGymEnv):
        import jax

        treedef = jax.tree.structure(u._state)
        leaves = [jax.numpy.asarray(state.arrays[f"leaf/{i}"]) for i in range(treedef.num_leaves)]
        u._state, u._t = jax.tree.unflatten(treedef, leaves), info["t"]
    elif state.kind == "mujoco" and _mujoco_of(env) is not None:
        model, data, half_step = _mujoco_of(env)
        restore_mujoco(model, data, state.arrays)
        if half_step:
            _half_step(model, data)
    else:
        raise ValueError(f"a saved {state.kind} env state does not fit {type(u).__name__}")
    _restore_common(env, info)
