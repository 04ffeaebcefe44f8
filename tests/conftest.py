import os
import warnings

import pytest

os.environ.setdefault("XLA_PYTHON_CLIENT_PREALLOCATE", "false")
warnings.filterwarnings("ignore", message=".*DISPLAY.*")


@pytest.fixture(scope="session", autouse=True)
def _compilation_cache(tmp_path_factory):
    """Share compiled programs between tests that build identical agents."""
    import jax

    jax.config.update("jax_compilation_cache_dir", str(tmp_path_factory.mktemp("jax_cache")))
    jax.config.update("jax_persistent_cache_min_compile_time_secs", 0.0)
    jax.config.update("jax_persistent_cache_min_entry_size_bytes", 0)


@pytest.fixture(scope="session")
def offline_run(tmp_path_factory):
    """A good controller's dataset (10 episodes) and a small offline run on it,
    shared by the offline and offline-to-online tests."""
    pytest.importorskip("minari")
    import numpy as np
    from pendulum_controller import Swingup

    from simbarl.offline.datasets import EnvSpec, save_dataset
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
