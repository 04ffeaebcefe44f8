import os
import warnings

import pytest

os.environ.setdefault("XLA_PYTHON_CLIENT_PREALLOCATE", "false")
# The tests' networks are tiny, so compiling costs far more than running: LLVM's
# optimization passes off cut compile time by about a third. Set here, before jax
# starts, so this process and every process the tests start (they inherit it) use it.
_FAST_COMPILE = "--xla_backend_optimization_level=0"
if _FAST_COMPILE not in os.environ.get("XLA_FLAGS", ""):
    os.environ["XLA_FLAGS"] = f"{os.environ.get('XLA_FLAGS', '')} {_FAST_COMPILE}".strip()
warnings.filterwarnings("ignore", message=".*DISPLAY.*")


def pytest_xdist_auto_num_workers(config):
    """``-n auto`` (the default in pyproject): one worker per core, at most 4.

    Each worker compiles its own programs; more than 4 mostly adds memory."""
    return max(1, min(4, os.cpu_count() or 1))


# Session fixtures that train something: the tests using one run in one xdist worker,
# so it is built once (``--dist loadgroup``). Tests using a module-scoped fixture
# (most of them train something too) are grouped by their module the same way.
SHARED_RUNS = ("offline_run",)


def pytest_collection_modifyitems(items):
    for item in items:
        info = getattr(item, "_fixtureinfo", None)
        defs = info.name2fixturedefs if info is not None else {}
        group = next((name for name in SHARED_RUNS if name in defs), None)
        if group is None and any(d[-1].scope in ("module", "class") for d in defs.values()):
            group = item.module.__name__
        if group is not None:
            item.add_marker(pytest.mark.xdist_group(group))


@pytest.fixture(scope="session", autouse=True)
def _compilation_cache(tmp_path_factory, worker_id):
    """Share compiled programs between tests that build identical agents: in this
    process, in the other xdist workers, and in the processes tests start
    (``simbarl`` subprocesses, sweep runs, Ray workers), through the environment."""
    import jax

    base = tmp_path_factory.getbasetemp()
    cache = (base.parent if worker_id != "master" else base) / "jax_cache"
    cache.mkdir(exist_ok=True)
    settings = {
        "jax_compilation_cache_dir": str(cache),
        "jax_persistent_cache_min_compile_time_secs": 0.0,
        "jax_persistent_cache_min_entry_size_bytes": 0,
    }
    for name, value in settings.items():
        jax.config.update(name, value)
        os.environ[name.upper()] = str(value)


@pytest.fixture(scope="session")
def offline_run(tmp_path_factory):
    """A good controller's dataset (10 episodes) and a small offline run on it,
    shared by the offline and offline-to-online tests."""
    pytest.importorskip("minari")
    import numpy as np
    from pendulum_controller import Swingup

    from simbarl.datasets import EnvSpec, save_dataset
    from simbarl.offline.record import record_episodes
    from simbarl.offline.trainer import OfflineConfig, train_offline

    path = tmp_path_factory.mktemp("offline")
    mp = pytest.MonkeyPatch()
    mp.setenv("MINARI_DATASETS_PATH", str(path / "datasets"))
    episodes = record_episodes(Swingup(), 10, seed=0)
    behaviour = float(np.mean([e.rewards.sum() for e in episodes]))
    save_dataset("swingup", episodes, EnvSpec("Pendulum-v1", 1), "controller")
    # Small networks learn within 3000 updates at a 10x higher rate than simbav2-bc's.
    small = (
        "agent.actor.width=32",
        "agent.critic.width=64",
        "agent.critic.num_blocks=1",
        "agent.learning_rate=1e-3",
        "agent.learning_rate_end=1e-4",
    )
    cfg = OfflineConfig(
        dataset="simbarl/swingup-v0",
        preset="simbav2-bc-small",
        steps=3000,
        batch_size=64,
        eval_every=1500,
        log_every=1500,
        eval_episodes=5,
        run_dir=str(path / "run"),
        overrides=small,
        tensorboard=False,
        progress=False,
    )
    run_dir, evals = train_offline(cfg)
    yield run_dir, evals, behaviour
    mp.undo()


@pytest.fixture
def shared_cache(monkeypatch):
    """The environment that lets worker processes (sweep runs, tune workers, Ray)
    reuse this session's compiled programs: XLA flags are part of the cache key."""
    env = {
        "XLA_FLAGS": os.environ["XLA_FLAGS"],
        "JAX_COMPILATION_CACHE_DIR": os.environ["JAX_COMPILATION_CACHE_DIR"],
        "JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS": "0",
        "JAX_PERSISTENT_CACHE_MIN_ENTRY_SIZE_BYTES": "0",
    }
    for k, v in env.items():
        monkeypatch.setenv(k, v)
    return env
