"""The 57 tasks of the SimbaV2 benchmark and how each one's score is normalized.

From ``reference/NOTES.md`` ("The 57 tasks", "Score normalization"):

* MuJoCo (5): ``(R - random) / (TD3 - random)``. Published on -v4; our ids are
  the -v5 versions Gymnasium 1.x maintains.
* DMC (21 easy/medium + 7 hard): ``R / 1000``.
* MyoSuite (10): the success rate, an episode counting as solved when
  ``info['solved']`` is true at any step.
* HumanoidBench (14, no hands): ``(R - random) / (target - random)``.
"""

from __future__ import annotations

import functools
import importlib.util
from dataclasses import dataclass

from simbarl.envs.registry import DMC_PREFIX


@dataclass(frozen=True)
class BenchmarkTask:
    env_id: str  # the simbarl id to train on
    suite: str  # mujoco, dmc, myosuite, humanoid_bench
    group: str  # mujoco, dmc-em (easy/medium), dmc-hard, myosuite, humanoid_bench
    published: str  # the task's name in the published tables
    metric: str = "return"  # "return" or "success" (MyoSuite)
    random: float = 0.0  # the score of a random policy
    reference: float = 1000.0  # the score that normalizes to 1

    def normalize(self, value: float) -> float:
        """Normalized score of a mean return (or of a success rate, unchanged)."""
        if self.metric == "success":
            return float(value)
        return (float(value) - self.random) / (self.reference - self.random)


_MUJOCO = {  # name: (random, TD3)
    "HalfCheetah": (-289.415, 10574.0),
    "Hopper": (18.791, 3226.0),
    "Walker2d": (2.791, 3946.0),
    "Ant": (-70.288, 3942.0),
    "Humanoid": (120.423, 5165.0),
}
_DMC_EM = (
    "acrobot-swingup ball_in_cup-catch cartpole-balance cartpole-balance_sparse "
    "cartpole-swingup cartpole-swingup_sparse cheetah-run finger-spin finger-turn_easy "
    "finger-turn_hard fish-swim hopper-hop hopper-stand pendulum-swingup quadruped-walk "
    "quadruped-run reacher-easy reacher-hard walker-stand walker-walk walker-run"
).split()
_DMC_HARD = "humanoid-stand humanoid-walk humanoid-run dog-stand dog-walk dog-run dog-trot".split()
_MYO = {  # id: published short name
    "myoHandReachFixed-v0": "myo-reach",
    "myoHandReachRandom-v0": "myo-reach-hard",
    "myoHandPoseFixed-v0": "myo-pose",
    "myoHandPoseRandom-v0": "myo-pose-hard",
    "myoHandObjHoldFixed-v0": "myo-obj-hold",
    "myoHandObjHoldRandom-v0": "myo-obj-hold-hard",
    "myoHandKeyTurnFixed-v0": "myo-key-turn",
    "myoHandKeyTurnRandom-v0": "myo-key-turn-hard",
    "myoHandPenTwirlFixed-v0": "myo-pen-twirl",
    "myoHandPenTwirlRandom-v0": "myo-pen-twirl-hard",
}
_H1 = {  # task: (random, target)
    "walk": (2.377, 700.0),
    "stand": (10.545, 800.0),
    "run": (2.02, 700.0),
    "reach": (260.302, 12000.0),
    "hurdle": (2.214, 700.0),
    "crawl": (272.658, 700.0),
    "maze": (106.441, 1200.0),
    "sit_simple": (9.393, 750.0),
    "sit_hard": (2.448, 750.0),
    "balance_simple": (9.391, 800.0),
    "balance_hard": (9.044, 800.0),
    "stair": (3.112, 700.0),
    "slide": (3.191, 700.0),
    "pole": (20.09, 700.0),
}


def _build() -> tuple[BenchmarkTask, ...]:
    tasks = [
        BenchmarkTask(f"{name}-v5", "mujoco", "mujoco", f"{name}-v4", random=r, reference=td3)
        for name, (r, td3) in _MUJOCO.items()
    ]
    tasks += [BenchmarkTask(DMC_PREFIX + t, "dmc", "dmc-em", t) for t in _DMC_EM]
    tasks += [BenchmarkTask(DMC_PREFIX + t, "dmc", "dmc-hard", t) for t in _DMC_HARD]
    tasks += [
        BenchmarkTask(i, "myosuite", "myosuite", short, metric="success", reference=1.0)
        for i, short in _MYO.items()
    ]
    tasks += [
        BenchmarkTask(
            f"h1-{t}-v0", "humanoid_bench", "humanoid_bench", f"h1-{t}-v0", "return", r, g
        )
        for t, (r, g) in _H1.items()
    ]
    return tuple(tasks)


BENCHMARK_TASKS: tuple[BenchmarkTask, ...] = _build()
BY_ID = {t.env_id: t for t in BENCHMARK_TASKS}
GROUPS = ("mujoco", "dmc-em", "dmc-hard", "myosuite", "humanoid_bench")
# The package each suite needs, to say which suites can run on this machine.
SUITE_PACKAGES = {
    "mujoco": "mujoco",
    "dmc": "dm_control",
    "myosuite": "myosuite",
    "humanoid_bench": "humanoid_bench",
}


def benchmark_task(env_id: str) -> BenchmarkTask:
    if env_id not in BY_ID:
        raise ValueError(f"{env_id!r} is not one of the 57 benchmark tasks (simbarl tasks)")
    return BY_ID[env_id]


def tasks_of(selection: str) -> list[BenchmarkTask]:
    """Tasks of a suite or group name (``dmc``, ``dmc-hard``, ``all``), or a comma list of ids."""
    if selection == "all":
        return list(BENCHMARK_TASKS)
    named = [t for t in BENCHMARK_TASKS if selection in (t.suite, t.group)]
    if named:
        return named
    return [benchmark_task(i.strip()) for i in selection.split(",") if i.strip()]


@functools.cache
def suite_problem(suite: str) -> str | None:
    """Why the suite's tasks cannot run here, or None when they can.

    A package that is found is not enough (HumanoidBench, for one, may be
    installed and still fail to import or to build an env): the package is
    imported and the suite's first task is built and closed, once per process.
    """
    package = SUITE_PACKAGES[suite]
    if importlib.util.find_spec(package) is None:
        return f"{package} is not installed"
    from simbarl.envs.registry import make_env

    env_id = next(t.env_id for t in BENCHMARK_TASKS if t.suite == suite)
    try:
        make_env(env_id, 1).close()
    except Exception as e:  # anything that stops the env from being built
        return f"{package} is installed but {env_id} does not build: {type(e).__name__}: {e}"
    return None


def suite_installed(suite: str) -> bool:
    """Whether the suite's tasks can run here: its package imports and builds an env."""
    return suite_problem(suite) is None
