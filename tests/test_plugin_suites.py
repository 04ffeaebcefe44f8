"""MyoSuite and HumanoidBench adapters: suite presets, install messages, success metric.

The packages are stood in for by tiny fake ones that register their ids the way
the real ones do (``import myosuite`` / ``import humanoid_bench`` registers
Gymnasium ids); ``test_real_myosuite_task`` runs where MyoSuite is installed.
"""

import importlib
import importlib.util
import sys
import textwrap

import gymnasium as gym
import numpy as np
import pytest

from simbarl.config import TrainConfig
from simbarl.envs.registry import make_env, plugin_suite, resolve_task
from simbarl.runs import run_dir as rd
from simbarl.train.evaluate import evaluate

FAKE_SUITE = """
import gymnasium as gym
import numpy as np
from gymnasium.envs.registration import register


class Fake(gym.Env):
    observation_space = gym.spaces.Box(-np.inf, np.inf, (5,), np.float64)
    action_space = gym.spaces.Box(0.0, 1.0, (2,), np.float32)

    def __init__(self, solved_at=None, render_mode=None):
        self.solved_at, self.t = solved_at, 0

    def reset(self, seed=None, options=None):
        super().reset(seed=seed)
        self.t = 0
        return np.zeros(5), {{}}

    def step(self, action):
        self.t += 1
        info = {{"solved": self.t == self.solved_at}} if {reports} else {{}}
        return np.full(5, self.t, float), float(np.sum(action)), False, False, info


register(id="{env_id}", entry_point=Fake, max_episode_steps={steps}, kwargs={kwargs})
"""


@pytest.fixture
def fake_package(tmp_path, monkeypatch):
    made = []

    def make(module, env_id, steps, reports=False, kwargs=None):
        if importlib.util.find_spec(module) is not None:  # never shadow the real package
            pytest.skip(f"the real {module} is installed (test_real_* covers it)")
        pkg = tmp_path / module
        pkg.mkdir()
        (pkg / "__init__.py").write_text(
            textwrap.dedent(
                FAKE_SUITE.format(env_id=env_id, steps=steps, reports=reports, kwargs=kwargs or {})
            )
        )
        made.append((module, env_id))

    monkeypatch.syspath_prepend(str(tmp_path))
    yield make
    for module, env_id in made:
        sys.modules.pop(module, None)
        gym.registry.pop(env_id, None)


def test_humanoid_bench_ids_get_its_preset(fake_package, monkeypatch):
    fake_package("humanoid_bench", "h1-walk-v0", 1000)
    # The fake is no upstream HumanoidBench: import it plainly, not through the adapter
    # (whose version check test_humanoid_bench.py tests).
    import simbarl.envs.humanoid_bench as adapter

    monkeypatch.setattr(
        adapter, "import_humanoid_bench", lambda: importlib.import_module("humanoid_bench")
    )
    assert plugin_suite("h1-walk-v0") == "humanoid_bench" and plugin_suite("Hopper-v5") is None
    task = resolve_task("h1-walk-v0")
    assert task.suite == "humanoid_bench" and task.obs_dim == 5 and task.action_dim == 2
    cfg, _ = rd.resolve(TrainConfig(env="h1-walk-v0"))
    assert cfg.action_repeat == 2 and cfg.agent.clipped_double_q
    assert cfg.agent.discount == pytest.approx(0.99)  # H = 1000 / 2 agent steps


def test_myosuite_ids_get_its_preset_and_success_at_any_raw_step(fake_package):
    # Solved at raw step 3 only: inside the second repeated action, never at its end.
    fake_package("myosuite", "myoHandReachFixed-v0", 100, True, {"solved_at": 3})
    cfg, task = rd.resolve(TrainConfig(env="myoHandReachFixed-v0"))
    assert task.suite == "myosuite" and cfg.action_repeat == 2
    assert not cfg.agent.clipped_double_q and cfg.agent.discount == pytest.approx(0.95)
    env = make_env("myoHandReachFixed-v0", 2)
    env.reset(seed=0)
    infos = [env.step(np.zeros(2))[4]["solved"] for _ in range(3)]
    assert infos == [False, True, False]
    result = evaluate(env, lambda o: np.zeros((1, 2)), episodes=2, seed=0)
    np.testing.assert_array_equal(result.successes, [1.0, 1.0])
    assert result.lengths.tolist() == [50, 50]  # 100 raw steps at action repeat 2


def test_success_is_none_where_the_env_never_reports_it():
    env = make_env("Pendulum-v1", 1)
    result = evaluate(env, lambda o: np.zeros((1, 1)), episodes=1, seed=0)
    assert result.successes is None and result.lengths.tolist() == [200]


@pytest.mark.parametrize(
    "env_id, says",
    [("myoHandPoseRandom-v0", "'.[myosuite]'"), ("h1-run-v0", "carlosferrazza/humanoid-bench")],
)
def test_missing_suite_says_how_to_install_it(env_id, says, monkeypatch):
    module = "myosuite" if env_id.startswith("myo") else "humanoid_bench"
    monkeypatch.setitem(sys.modules, module, None)  # import fails as if not installed
    with pytest.raises(ValueError, match="Install it") as e:
        resolve_task(env_id)
    assert says in str(e.value)


def test_real_myosuite_task():
    pytest.importorskip("myosuite")
    cfg, task = rd.resolve(TrainConfig(env="myoHandReachFixed-v0"))
    assert task.suite == "myosuite" and cfg.action_repeat == 2
    env = make_env("myoHandReachFixed-v0", cfg.action_repeat)
    result = evaluate(env, lambda o: np.zeros((1, task.action_dim)), episodes=1, seed=0)
    assert result.successes is not None and result.successes.shape == (1,)
    assert 1 <= result.lengths[0] <= task.max_episode_steps // 2  # it may terminate early
