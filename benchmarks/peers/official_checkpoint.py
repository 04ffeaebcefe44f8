"""Checkpoints of an official FlashSAC training run (``flashsac_learning.py``), so that
a run longer than one sitting continues where it stopped, as the same run.

The official code saves its networks and replay buffer but not the rest of a run, and
Gymnasium's MuJoCo envs pickle as their constructor arguments only (``EzPickle``): a
pickled env comes back freshly made. So a checkpoint holds

* the agent object itself (networks, optimizers, schedulers, replay buffer, reward
  normalizer, noise-repetition state), pickled with ``cloudpickle``;
* each env's state, read through its wrappers: MuJoCo's whole integration state
  (``mj_getState`` with ``mjSTATE_INTEGRATION``: positions, velocities, time, the
  solver's warm start), the env's random generator, ``TimeLimit``'s step count,
  ``OrderEnforcing``'s reset flag, the vector env's pending autoresets and the
  action space's generator;
* Python's, NumPy's and torch's global random states;
* the loop's own variables (``loop``: steps, counters, the curve, the clocks).

:func:`restore` puts the envs back into the envs a fresh ``build`` made and returns
the agent and the rest; the continued run equals the uninterrupted one
(``tests/test_flashsac_learning_peer.py`` checks the env part without torch).
Files are written whole or not at all (a temporary file, then a rename).
"""

from __future__ import annotations

import os
import random
import tempfile
from pathlib import Path


def _chain(env):
    """``env`` and every env it wraps, outermost first."""
    while env is not None:
        yield env
        env = getattr(env, "env", None)


def env_state(vec_env) -> dict:
    """What a freshly made vector env of the same kind needs to continue as ``vec_env``."""
    envs = []
    for env in vec_env.envs:
        wrappers = {}
        for i, layer in enumerate(_chain(env)):
            for attr in ("_elapsed_steps", "_has_reset"):
                if attr in vars(layer):
                    wrappers[f"{i}.{attr}"] = vars(layer)[attr]
        base = env.unwrapped
        physics = None
        if hasattr(base, "data") and hasattr(base, "model"):
            physics = _physics(base)
        envs.append(
            {
                "wrappers": wrappers,
                "physics": physics,
                "np_random": base.np_random.bit_generator.state,
            }
        )
    return {
        "envs": envs,
        "autoreset": getattr(vec_env, "_autoreset_envs", None),
        "action_space": vec_env.action_space.np_random.bit_generator.state,
    }


def _physics(base):
    """MuJoCo's whole integration state of a MuJoCo env (``base.model``, ``base.data``)."""
    import mujoco
    import numpy as np

    spec = mujoco.mjtState.mjSTATE_INTEGRATION
    out = np.empty(mujoco.mj_stateSize(base.model, spec), dtype=np.float64)
    mujoco.mj_getState(base.model, base.data, out, spec)
    return out


def set_env_state(vec_env, state: dict) -> None:
    """Make ``vec_env`` (freshly made and reset) continue as the env ``state`` was read
    from (:func:`env_state`)."""
    import mujoco

    if len(state["envs"]) != len(vec_env.envs):
        raise ValueError(f"{len(state['envs'])} envs saved, {len(vec_env.envs)} made")
    for env, saved in zip(vec_env.envs, state["envs"], strict=True):
        layers = list(_chain(env))
        for key, value in saved["wrappers"].items():
            i, attr = key.split(".", 1)
            setattr(layers[int(i)], attr, value)
        base = env.unwrapped
        if saved["physics"] is not None:
            spec = mujoco.mjtState.mjSTATE_INTEGRATION
            mujoco.mj_setState(base.model, base.data, saved["physics"], spec)
        base.np_random.bit_generator.state = saved["np_random"]
    if state["autoreset"] is not None:
        vec_env._autoreset_envs = state["autoreset"]
    vec_env.action_space.np_random.bit_generator.state = state["action_space"]


def save(path: Path, agent, envs: dict, loop: dict) -> None:
    """Write the checkpoint of a run: ``agent``, the vector envs ``envs`` (by name: their
    :func:`env_state`), the global random states and ``loop``."""
    import cloudpickle
    import numpy as np
    import torch

    blob = {
        "agent": agent,
        "envs": {name: env_state(env) for name, env in envs.items()},
        "random": {
            "python": random.getstate(),
            "numpy": np.random.get_state(),
            "torch": torch.get_rng_state(),
        },
        "loop": loop,
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    with os.fdopen(fd, "wb") as f:
        cloudpickle.dump(blob, f)
    os.replace(tmp, path)


def restore(path: Path, envs: dict):
    """Read a checkpoint written by :func:`save`, put its env states into ``envs`` (the
    same names, freshly made and reset) and the global random states back; returns
    ``(agent, loop)``."""
    import pickle

    import numpy as np
    import torch

    with path.open("rb") as f:
        blob = pickle.load(f)
    if set(blob["envs"]) != set(envs):
        raise ValueError(f"{path} holds envs {sorted(blob['envs'])}, not {sorted(envs)}")
    for name, env in envs.items():
        set_env_state(env, blob["envs"][name])
    random.setstate(blob["random"]["python"])
    np.random.set_state(blob["random"]["numpy"])
    torch.set_rng_state(blob["random"]["torch"])
    return blob["agent"], blob["loop"]
