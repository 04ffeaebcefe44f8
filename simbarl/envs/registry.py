"""Task ids, suite presets and the discount heuristic (NOTES.md).

Ids: a Gymnasium id (``HalfCheetah-v5``, ``Pendulum-v1``, MyoSuite's
``myoHandReachFixed-v0``, HumanoidBench's ``h1-walk-v0``) or ``dmc:DOMAIN-TASK``
(``dmc:cartpole-swingup``), ``MODULE:ID`` (your module registers ID on import,
``envs/custom.py``), or a device-loop task: ``mjx:NAME`` (MuJoCo
Playground), ``brax:NAME`` (Brax's MJX environments) or ``jax:NAME``
(``envs/toy.py``), see ``envs/device_tasks.py``.
Per suite: action repeat, whether the clipped double-Q rule is used, and the
raw episode length H that sets the discount
``clip((H'/5 - 1) / (H'/5), 0.95, 0.995)`` with ``H' = H / action_repeat``.
"""

from __future__ import annotations

import difflib
import importlib
from dataclasses import dataclass

import gymnasium as gym
import numpy as np

from simbarl.envs.custom import gym_id
from simbarl.envs.humanoid_bench import KNOWN_COMMIT as HB_COMMIT
from simbarl.envs.mujoco_v4 import make_gymnasium, unregistered_message
from simbarl.envs.wrappers import ActionRepeat, RescaleAction

DMC_PREFIX = "dmc:"


@dataclass(frozen=True)
class SuitePreset:
    action_repeat: int
    clipped_double_q: bool
    num_envs: int = 1  # when the config leaves --num-envs unset
    steps: int = 30_000  # the budget when the config's preset leaves --steps unset


# Device-loop tasks step many envs at once: 16 of them and a budget of 500,000 env
# steps solve mjx:CartpoleBalance in a few minutes on a 2-core CPU
# (benchmarks/device_learning.py); the updates, not the env steps, are the cost there.
DEVICE_ENVS, DEVICE_STEPS = 16, 500_000


SUITES = {
    "mujoco": SuitePreset(action_repeat=1, clipped_double_q=True),
    "dmc": SuitePreset(action_repeat=2, clipped_double_q=False),
    "myosuite": SuitePreset(action_repeat=2, clipped_double_q=False),
    "humanoid_bench": SuitePreset(action_repeat=2, clipped_double_q=True),
    "gym": SuitePreset(action_repeat=1, clipped_double_q=True),
    # Device-loop tasks. Playground's locomotion and manipulation control steps
    # already hold their substeps; its DM Control Suite ports keep DMC's 0.01 s
    # control step, so they take DMC's action repeat (SimbaV2's protocol).
    "playground": SuitePreset(1, False, DEVICE_ENVS, DEVICE_STEPS),
    "playground_dmc": SuitePreset(2, False, DEVICE_ENVS, DEVICE_STEPS),
    # Brax's ports of the Gymnasium MuJoCo tasks: their control steps hold their
    # substeps (n_frames), and they take the clipped double-Q of the originals.
    "brax": SuitePreset(1, True, DEVICE_ENVS, DEVICE_STEPS),
    "jax": SuitePreset(1, False, DEVICE_ENVS, DEVICE_STEPS),
}

# Suites whose Gymnasium ids exist only once their package is imported:
# suite -> (id prefixes, module, how to install it).
PLUGIN_SUITES = {
    "myosuite": (
        ("myo",),
        "myosuite",
        "pip install -e '.[myosuite]' (MyoSuite pins gymnasium<1.3; see the README)",
    ),
    "humanoid_bench": (
        ("h1-", "h1hand-", "h1strong-", "h1touch-", "g1-"),
        "humanoid_bench",
        "HumanoidBench is not on PyPI: git clone https://github.com/carlosferrazza/"
        f"humanoid-bench && git -C humanoid-bench checkout {HB_COMMIT} && pip install "
        "--no-deps -e humanoid-bench (--no-deps: its "
        "setup.py pins gymnasium 0.29, mujoco 3.1.6 and torch; see "
        "docs/guides/humanoid_bench.md)",
    ),
}


def plugin_suite(env_id: str) -> str | None:
    """The plugin suite an id belongs to by its prefix (``myoHand...``, ``h1-...``), or None."""
    for suite, (prefixes, _, _) in PLUGIN_SUITES.items():
        if env_id.startswith(prefixes):
            return suite
    return None


def _import_plugin(env_id: str) -> None:
    """Import the package that registers the id's suite, or say what is wrong with it."""
    suite = plugin_suite(env_id)
    if suite is None:
        return
    _, module, install = PLUGIN_SUITES[suite]
    try:
        if suite == "humanoid_bench":  # through its adapter (envs/humanoid_bench.py)
            from simbarl.envs.humanoid_bench import import_humanoid_bench

            import_humanoid_bench()
        else:
            importlib.import_module(module)
    except ImportError as e:
        if isinstance(e, ModuleNotFoundError) and e.name == module:
            raise ValueError(
                f"{env_id} is a {suite} task and {module} is not installed. Install it: {install}"
            ) from e
        raise ValueError(
            f"{env_id} is a {suite} task; {module} is installed but importing it failed: {e}"
        ) from e


@dataclass(frozen=True)
class TaskSpec:
    env_id: str
    suite: str
    obs_dim: int
    action_dim: int
    max_episode_steps: int  # raw simulator steps
    preset: SuitePreset
    action_low: tuple[float, ...] = ()  # the env's own bounds
    action_high: tuple[float, ...] = ()
    actor_obs_dim: int | None = None  # asymmetric observations: the actor's leading part


def _suite_of(env_id: str) -> str:
    if env_id.startswith(DMC_PREFIX):
        return "dmc"
    if plugin_suite(env_id) is not None:
        return plugin_suite(env_id)
    entry = str(gym.registry[gym_id(env_id)].entry_point)
    return "mujoco" if "mujoco" in entry else "gym"


def _check_known(env_id: str) -> None:
    env_id = gym_id(env_id)  # MODULE:ID imports MODULE, which registers ID
    _import_plugin(env_id)
    if env_id.startswith(DMC_PREFIX):
        from simbarl.envs.dmc import dmc_tasks

        known = [DMC_PREFIX + t for t in dmc_tasks()]
    else:
        known = list(gym.registry)
    if env_id not in known:
        if unregistered_message(env_id):
            raise ValueError(unregistered_message(env_id))
        close = difflib.get_close_matches(env_id, known, n=5, cutoff=0.5)
        hint = f" Did you mean: {', '.join(close)}?" if close else ""
        raise ValueError(
            f"unknown environment id {env_id!r}.{hint} Use a Gymnasium id such as "
            f"'HalfCheetah-v5', '{DMC_PREFIX}DOMAIN-TASK' such as 'dmc:cartpole-swingup', or "
            "MODULE:ID for an environment your module registers on import."
        )


def check_task_id(env_id: str) -> None:
    """Raise ``ValueError`` (with close matches) for an unknown task id, building nothing."""
    from simbarl.envs.device_tasks import is_device_task

    if not is_device_task(env_id):
        _check_known(env_id)


def _make_raw(env_id: str, render_mode: str | None = None) -> gym.Env:
    from simbarl.envs.mujoco_warnings import quiet_env_build

    with quiet_env_build():  # about the simulators' own files and setup, not the user's
        return _build_raw(env_id, render_mode)


def _build_raw(env_id: str, render_mode: str | None) -> gym.Env:
    from simbarl.envs.device_tasks import is_device_task, load_device_task

    if is_device_task(env_id):
        from simbarl.envs.jax_gym import JaxGymEnv

        return JaxGymEnv(load_device_task(env_id), render_mode)
    if env_id.startswith(DMC_PREFIX):
        from simbarl.envs.dmc import DMCEnv

        domain, task = env_id[len(DMC_PREFIX) :].split("-", 1)
        return DMCEnv(domain, task, render_mode=render_mode)
    env_id = gym_id(env_id)
    _import_plugin(env_id)
    return make_gymnasium(env_id, render_mode)


def _device_task_spec(env_id: str, asymmetric: bool) -> TaskSpec:
    from simbarl.envs.device_tasks import load_device_task

    task = load_device_task(env_id, asymmetric=asymmetric)
    low, high = task.bounds
    return TaskSpec(
        env_id=env_id,
        suite=task.suite,
        obs_dim=task.obs_dim,
        action_dim=task.action_dim,
        max_episode_steps=task.episode_length,
        preset=SUITES[task.suite],
        action_low=low,
        action_high=high,
        actor_obs_dim=task.actor_obs_dim,
    )


def resolve_task(env_id: str, asymmetric: bool = False) -> TaskSpec:
    """Look a task up (failing fast with close matches) and read its shapes.
    ``asymmetric``: a device task's observation is its privileged state where it has
    one, the actor's the leading ``actor_obs_dim`` entries (``--asymmetric-observation``)."""
    from simbarl.envs.device_tasks import is_device_task

    if is_device_task(env_id):
        return _device_task_spec(env_id, asymmetric)
    _check_known(env_id)
    env = _make_raw(env_id)
    try:
        if not isinstance(env.action_space, gym.spaces.Box):
            raise ValueError(
                f"{env_id} has a {type(env.action_space).__name__} action space; "
                "simbarl trains continuous (Box) actions only"
            )
        if env_id.startswith(DMC_PREFIX):
            max_steps = env.unwrapped.max_episode_steps
        else:
            max_steps = env.spec.max_episode_steps or 1000
        suite = _suite_of(env_id)
        return TaskSpec(
            env_id=env_id,
            suite=suite,
            obs_dim=int(np.prod(env.observation_space.shape)),
            action_dim=int(np.prod(env.action_space.shape)),
            max_episode_steps=int(max_steps),
            preset=SUITES[suite],
            action_low=tuple(float(x) for x in env.action_space.low.ravel()),
            action_high=tuple(float(x) for x in env.action_space.high.ravel()),
        )
    finally:
        env.close()


def observation_layout(env_id: str) -> str:
    """What a task's observation vector holds, in the order the policy reads it: for a
    DeepMind Control task the observation dict's entries, each flattened and
    concatenated in key order (``position[0:3] velocity[3:5]``)."""
    from simbarl.envs.device_tasks import MJX_PREFIX, is_device_task

    if env_id.startswith(DMC_PREFIX):
        from simbarl.envs.dmc import observation_keys

        parts, start = [], 0
        for key, size in observation_keys(*env_id[len(DMC_PREFIX) :].split("-", 1)):
            parts.append(f"{key}[{start}:{start + size}]")
            start += size
        return "dm_control observation dict, each entry flattened, in key order: " + " ".join(parts)
    if is_device_task(env_id):
        state = " (its 'state' entry if the task observes a dict)"
        return "the task's observation vector" + (state if env_id.startswith(MJX_PREFIX) else "")
    env = _make_raw(env_id)
    try:
        shape = tuple(env.observation_space.shape)
    finally:
        env.close()
    flat = "" if len(shape) == 1 else ", flattened in C order"
    return f"the Gymnasium observation as the env returns it, shape {shape}{flat}"


def make_env(
    env_id: str,
    action_repeat: int,
    render_mode: str | None = None,
    bounds: tuple | None = None,
) -> gym.Env:
    """The task with actions in [-1, 1] and the raw-step time limit inside the repeat.

    ``bounds``: ``(low, high)`` per action dimension that [-1, 1] maps to, in
    place of the env's own (see ``TrainConfig.action_low``).
    """
    low, high = bounds if bounds is not None else (None, None)
    env = RescaleAction(_make_raw(env_id, render_mode), low, high)
    return ActionRepeat(env, action_repeat)
