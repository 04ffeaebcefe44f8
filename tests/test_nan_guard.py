"""The NaN guard: no diverged learner is checkpointed, evaluated or reported as done;
a dataset holding NaN or inf is refused when loaded."""

import dataclasses

import numpy as np
import pytest
from flax import struct
from test_run_safety import small

from simbarl.cli import main
from simbarl.config import AgentConfig
from simbarl.runs.finite import NonFiniteError, check_finite
from simbarl.runs.load import load_agent
from simbarl.runs.metrics import read_metrics
from simbarl.train.run import train

DIVERGING = AgentConfig(
    actor=small("x").agent.actor,
    critic=small("x").agent.critic,
    learning_rate=1e10,
    learning_rate_end=1e10,
)


def test_the_guard_stops_online_training_before_a_checkpoint_without_a_log_row(tmp_path):
    run = tmp_path / "run"
    # Checkpoints every 200 steps, log rows only every 10000: the guard runs at checkpoints.
    cfg = small(run, steps=1000, warmup_steps=200, log_every=10_000, agent=DIVERGING)
    with pytest.raises(NonFiniteError) as e:
        train(cfg)
    message = str(e.value)
    assert "training diverged at update" in message and "learning rate 1e+10" in message
    assert "learner arrays non-finite" in message or "non-finite critic/loss" in message
    if (run / "checkpoint.npz").exists():  # an early one, written before it diverged
        agent = load_agent(run)  # loads: every array is finite
        assert agent.env_step < 1000


def test_a_diverged_learner_is_not_evaluated(tmp_path):
    """The guard runs before an evaluation, not only before its checkpoint: no
    ``eval/return: NaN`` row is written (evaluations every 200 steps, rows every
    10000; before the session ran the guard first, the 400 evaluation logged NaN)."""
    run = tmp_path / "run"
    cfg = small(run, steps=1000, warmup_steps=200, log_every=10_000)
    with pytest.raises(NonFiniteError):
        train(dataclasses.replace(cfg, agent=DIVERGING))
    returns = [r["eval/return"] for r in read_metrics(run) if "eval/return" in r]
    assert all(np.isfinite(returns)), returns


def test_the_guard_stops_the_device_loop(tmp_path):
    run = tmp_path / "run"
    cfg = small(run, env="jax:PointMass", num_envs=4, steps=800, log_every=10_000)
    with pytest.raises(NonFiniteError, match="training diverged at update"):
        train(dataclasses.replace(cfg, agent=DIVERGING))
    if (run / "checkpoint.npz").exists():
        assert load_agent(run).env_step < 800


def test_the_cli_exits_non_zero_on_divergence(tmp_path, capsys):
    argv = ["train", "--env", "Pendulum-v1", "--steps", "400", "--warmup-steps", "100"]
    argv += ["--eval-every", "200", "--log-every", "10000", "--eval-episodes", "1"]
    argv += ["--batch-size", "16", "--updates-per-step", "1", "--agent.actor.width", "16"]
    argv += ["--agent.critic.width", "16", "--agent.learning-rate", "1e10"]
    argv += ["--agent.learning-rate-end", "1e10", "--no-progress", "--no-tensorboard"]
    argv += ["--run-dir", str(tmp_path / "run")]
    assert main(argv) == 1
    err = capsys.readouterr().err
    assert "training diverged at update" in err and "Traceback" not in err


def test_check_finite_names_the_arrays_and_losses():
    @struct.dataclass
    class Learner:
        w: np.ndarray
        b: np.ndarray
        step: np.ndarray  # integer arrays are not checked

    learner = Learner(w=np.ones(3), b=np.array([np.nan]), step=np.array(7))
    check_finite(learner.replace(b=np.ones(1)), {"critic/loss": 1.0}, small("x"), "RUN")
    with pytest.raises(NonFiniteError, match=r"update 7: non-finite critic/loss; 1 of 2 learner"):
        check_finite(learner, {"critic/loss": np.inf}, small("x"), "RUN")


# Offline: a tiny dataset of a good controller (Pendulum, 2 episodes of 200 steps).


@pytest.fixture
def datasets(tmp_path, monkeypatch):
    pytest.importorskip("minari")
    from pendulum_controller import Swingup

    from simbarl.offline.record import record_episodes

    monkeypatch.setenv("MINARI_DATASETS_PATH", str(tmp_path / "datasets"))
    return record_episodes(Swingup(), 2, seed=0)


def _offline(tmp_path, dataset, *overrides, steps=200):
    from simbarl.offline.trainer import OfflineConfig, train_offline

    cfg = OfflineConfig(
        dataset=dataset,
        preset="simbav2-bc-small",
        steps=steps,
        batch_size=16,
        eval_every=100,
        log_every=100,
        eval_episodes=1,
        run_dir=str(tmp_path / "offline"),
        overrides=("agent.actor.width=16", "agent.critic.width=16", *overrides),
        tensorboard=False,
        progress=False,
    )
    return train_offline(cfg)


def test_offline_divergence_stops_before_evaluating_or_saving(tmp_path, datasets):
    from simbarl.datasets import EnvSpec, save_dataset

    save_dataset("good", datasets, EnvSpec("Pendulum-v1", 1), "controller")
    lr = ("agent.learning_rate=1e10", "agent.learning_rate_end=1e10")
    with pytest.raises(NonFiniteError, match="learning rate 1e\\+10"):
        _offline(tmp_path, "simbarl/good-v0", *lr)
    assert not (tmp_path / "offline" / "checkpoint.npz").exists()


@pytest.mark.parametrize("field", ["observations", "rewards"])
def test_a_dataset_with_nan_or_inf_is_refused_saying_where(tmp_path, datasets, field):
    from simbarl.datasets import EnvSpec, save_dataset

    values = getattr(datasets[1], field)
    values[(5,) + (0,) * (values.ndim - 1)] = np.nan if field == "observations" else np.inf
    save_dataset("bad", datasets, EnvSpec("Pendulum-v1", 1), "controller")
    where = rf"1 non-finite {field} in 1 episodes \(first: episode 1, step 5\)"
    with pytest.raises(ValueError, match=where):
        _offline(tmp_path, "simbarl/bad-v0")
    assert not (tmp_path / "offline").exists()


def test_a_damaged_dataset_file_is_one_clear_error(tmp_path, datasets):
    from simbarl.datasets import EnvSpec, save_dataset

    dataset = save_dataset("cut", datasets, EnvSpec("Pendulum-v1", 1), "controller")
    hdf5 = next(iter((tmp_path / "datasets").rglob("main_data.hdf5")))
    hdf5.write_bytes(hdf5.read_bytes()[:200])
    assert dataset is not None
    for given in (str(hdf5), str(hdf5.parent.parent)):
        with pytest.raises(ValueError, match="cannot be read") as e:
            _offline(tmp_path, given)
        assert "no dataset" not in str(e.value)
    (tmp_path / "bad.hdf5").write_bytes(b"\x89HDF not really")
    with pytest.raises(ValueError, match="is not a Minari dataset") as e:
        _offline(tmp_path, str(tmp_path / "bad.hdf5"))
    assert "does not exist" not in str(e.value)
