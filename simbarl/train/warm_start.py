"""Offline-to-online: an online run that starts from another run (``--init-from RUN``).

The source's weights (actor, critics, target networks, temperature) replace a
fresh learner's; the optimizers, the update counter and so the learning-rate
schedule start over. The source's observation and reward statistics seed the
run's running statistics; their counts carry on, so online data moves them as
fast as the source's amount of data allows. With ``--init-data-ratio`` an
offline source's dataset stays beside the online replay and a fixed fraction of
every batch is drawn from it (0.5: RLPD's symmetric sampling).
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import jax
import numpy as np

from simbarl.agents import ActorCritic
from simbarl.config import DEFAULT_PRESET, PRESETS, TrainConfig, preset_name
from simbarl.runs import run_dir as rd
from simbarl.runs.learner import fresh_loop
from simbarl.runs.load import load_agent

# What a warm start takes from the source learner; the rest starts fresh.
WEIGHTS = ("actor", "critic", "target_critic", "target_actor", "log_temp")
# Offline presets and the online preset each was built from.
ONLINE_PRESET = {
    "simbav2-bc": "simbav2",
    "simbav2-bc-small": "simbav2-small",
    "flashsac-bc": "flashsac",
}


def online_preset(source: str | Path) -> str:
    """The online preset to fine-tune a run with: its own, or its offline preset's base."""
    name = rd.load_config(source).preset
    name = preset_name(ONLINE_PRESET.get(name, name))
    return name if name in PRESETS else DEFAULT_PRESET


def init_config(source: str | Path, base: TrainConfig) -> TrainConfig:
    """``base`` (an online preset) on the source run's task with its algorithm,
    networks and behaviour-cloning weight, and ``base``'s learning rates. An offline
    source's dataset is kept for half of every batch (``--init-data-ratio``).

    Keeping BC (towards each batch's actions) and the dataset is what avoids the
    early collapse of fine-tuning (README, offline-to-online, measured)."""
    src = rd.load_config(source)
    agent = dataclasses.replace(
        src.agent,
        learning_rate=base.agent.learning_rate,
        learning_rate_end=base.agent.learning_rate_end,
        learning_rate_decay=base.agent.learning_rate_decay,
    )
    return dataclasses.replace(
        base,
        env=src.env,
        action_repeat=src.action_repeat,
        action_low=src.action_low,
        action_high=src.action_high,
        algo=src.algo,
        agent=agent,
        init_from=str(Path(source).resolve()),  # a resume from elsewhere finds it
        init_data_ratio=0.5 if (Path(source) / "offline.json").is_file() else 0.0,
    )


def _shapes(tree):
    return jax.tree.map(lambda x: (np.shape(x), np.asarray(x).dtype), tree)


def warm_start(cfg: TrainConfig, learner, loop):
    """``(learner, loop)`` of a new run with the ``cfg.init_from`` run's weights and
    statistics; raises ``ValueError`` saying what differs when they do not fit."""
    source = load_agent(cfg.init_from)
    where = f"--init-from {cfg.init_from}"
    if source.config.env != cfg.env:
        raise ValueError(f"{where} was trained on {source.config.env}, this run is on {cfg.env}")
    fresh = {k: getattr(learner, k) for k in WEIGHTS}
    loaded = {k: getattr(source.learner, k) for k in WEIGHTS}
    if _shapes(fresh) != _shapes(loaded):
        raise ValueError(
            f"{where}: its networks ({source.config.algo}, actor {source.config.agent.actor}, "
            f"critic {source.config.agent.critic}) differ from this run's ({cfg.algo}, "
            f"actor {cfg.agent.actor}, critic {cfg.agent.critic})"
        )
    learner = learner.replace(**jax.tree.map(jax.numpy.asarray, loaded))
    scaler = source.reward_scaler
    loop.obs_stats = source.obs_stats
    loop.reward_scaler = scaler.replace(returns=np.zeros_like(loop.reward_scaler.returns))
    return learner, loop


def start(agent: ActorCritic, cfg: TrainConfig, seed: int, warm: bool):
    """``(learner, loop state)`` of a new run: fresh, or with ``warm`` and
    ``--init-from`` the source run's weights and statistics (``warm_start.py``)."""
    learner = agent.init(jax.random.PRNGKey(seed))
    loop = fresh_loop(cfg, agent.obs_dim, agent.action_dim, seed)
    if warm and cfg.init_from is not None:
        learner, loop = warm_start(cfg, learner, loop)
    return learner, loop


def dataset_buffer(cfg: TrainConfig, obs_dim: int, action_dim: int):
    """The ``--init-from`` offline run's dataset as a replay buffer, or ``()`` when
    ``--init-data-ratio`` is 0."""
    if cfg.init_data_ratio == 0:
        return ()
    from simbarl.datasets import dataset_replay, episodes_of, load_dataset

    info_path = Path(cfg.init_from) / "offline.json"
    if not info_path.is_file():
        raise ValueError(
            f"--init-data-ratio: {cfg.init_from} is not a `simbarl offline` run "
            "(no offline.json), so there is no dataset to keep"
        )
    info = json.loads(info_path.read_text())
    episodes = episodes_of(load_dataset(info["dataset"]))
    buffer = dataset_replay(episodes)
    if buffer.data.obs.shape[1:] != (obs_dim,) or buffer.data.action.shape[1:] != (action_dim,):
        raise ValueError(f"--init-from {cfg.init_from}: its dataset does not fit {cfg.env}")
    return buffer
