"""Offline datasets in the Minari format: write, load, and flatten to transitions.

A dataset is a list of episodes: ``observations`` (T+1, obs_dim) including the
final observation, ``actions`` (T, A) in the agent's [-1, 1] space, ``rewards``,
``terminations`` and ``truncations`` (T,). Terminated and truncated are kept
apart exactly, so offline TD targets stop at terminations only.

simbarl writes datasets with ``minari.create_dataset_from_buffers`` and adds a
``simbarl_env`` metadata entry (task id, action repeat, action bounds) from
which evaluation rebuilds the very env the data came from (DMC tasks have no
Gymnasium spec for Minari to store). Datasets live where Minari keeps them
(``MINARI_DATASETS_PATH``, default ``~/.minari/datasets``); loading takes a
Minari id (downloaded by Minari when missing and asked to) or a local path.
"""

from __future__ import annotations

import dataclasses
import json
import os
import re
import shutil
from pathlib import Path

import gymnasium as gym
import numpy as np

from simbarl.replay import ReplayBuffer, Transition, add, init_replay

META_KEY = "simbarl_env"


@dataclasses.dataclass
class Episode:
    observations: np.ndarray  # (T + 1, obs_dim)
    actions: np.ndarray  # (T, A)
    rewards: np.ndarray  # (T,)
    terminations: np.ndarray  # (T,) bool
    truncations: np.ndarray  # (T,) bool

    def __len__(self) -> int:
        return len(self.rewards)


@dataclasses.dataclass(frozen=True)
class EnvSpec:
    """What evaluation needs to rebuild the dataset's env (``envs.registry.make_env``)."""

    env: str
    action_repeat: int
    action_low: tuple[float, ...] | None = None
    action_high: tuple[float, ...] | None = None

    def bounds(self):
        if self.action_low is None:
            return None
        return np.asarray(self.action_low), np.asarray(self.action_high)


def _minari():
    try:
        import minari
    except ImportError as e:
        raise RuntimeError("datasets need minari with HDF5: pip install -e '.[offline]'") from e
    # Minari joins a relative MINARI_DATASETS_PATH onto itself when writing a dataset
    # (minari 0.5: FileNotFoundError on .../data/<same path>/data/main_data.hdf5).
    root = os.environ.get("MINARI_DATASETS_PATH")
    if root and not os.path.isabs(root):
        os.environ["MINARI_DATASETS_PATH"] = os.path.abspath(root)
    return minari


def dataset_id(name: str) -> str:
    """A Minari id from a name: ``simbarl/NAME-v0`` unless it already has a version."""
    name = name.strip()
    if not re.fullmatch(r"[\w./-]+", name):
        raise ValueError(f"dataset name {name!r}: use letters, digits, '_', '-', '/' and '.'")
    if not re.search(r"-v\d+$", name):
        name += "-v0"
    return name if "/" in name else f"simbarl/{name}"


def check_name_free(name: str) -> str:
    """The Minari id of ``name``, after checking Minari is installed and the id unused,
    so that nothing is recorded only to fail at the end."""
    _minari()
    from minari.storage import get_dataset_path

    ds_id = dataset_id(name)
    if get_dataset_path(ds_id).exists():
        raise ValueError(
            f"dataset {ds_id} already exists at {get_dataset_path(ds_id)}: choose another "
            f"--name or delete it (minari delete {ds_id})"
        )
    return ds_id


def save_dataset(
    name: str, episodes: list[Episode], spec: EnvSpec, algorithm: str, description: str = ""
):
    """Write ``episodes`` as a Minari dataset; returns the ``MinariDataset``."""
    minari = _minari()
    from minari.data_collector import EpisodeBuffer

    if not episodes:
        raise ValueError("no episodes to write")
    obs_dim, act_dim = episodes[0].observations.shape[1], episodes[0].actions.shape[1]
    buffers = [
        EpisodeBuffer(
            id=i,
            observations=ep.observations.astype(np.float32),
            actions=ep.actions.astype(np.float32),
            rewards=ep.rewards.astype(np.float64),
            terminations=ep.terminations.astype(bool),
            truncations=ep.truncations.astype(bool),
        )
        for i, ep in enumerate(episodes)
    ]
    from minari.storage import get_dataset_path

    ds_id = dataset_id(name)
    existed = get_dataset_path(ds_id).exists()
    try:
        dataset = minari.create_dataset_from_buffers(
            dataset_id=ds_id,
            buffer=buffers,
            observation_space=gym.spaces.Box(-np.inf, np.inf, (obs_dim,), np.float32),
            action_space=gym.spaces.Box(-1.0, 1.0, (act_dim,), np.float32),
            algorithm_name=algorithm,
            description=description or f"{spec.env} data recorded by simbarl",
        )
        dataset.storage.update_metadata({META_KEY: json.dumps(dataclasses.asdict(spec))})
    except BaseException:
        if not existed:  # leave no half-written dataset that blocks the name
            shutil.rmtree(get_dataset_path(ds_id), ignore_errors=True)
        raise
    return dataset


def load_dataset(id_or_path: str, download: bool = False):
    """A ``MinariDataset`` from a local path (a dataset folder, its ``data`` folder or its
    ``main_data.hdf5``) or a Minari id; ``download`` lets Minari fetch a public one that
    is not local."""
    minari = _minari()
    path = Path(id_or_path)
    if path.exists():
        data = path / "data" if (path / "data").is_dir() else path
        if data.is_file():
            data = data.parent
        if not (data / "main_data.hdf5").is_file():
            raise ValueError(
                f"{id_or_path} is not a Minari dataset: it has no main_data.hdf5 (give the "
                "dataset's folder, or a Minari id)"
            )
        try:
            return minari.MinariDataset(data)
        except Exception as e:  # h5py and minari raise many kinds on a damaged file
            raise ValueError(
                f"{data / 'main_data.hdf5'} cannot be read as a Minari dataset "
                f"({type(e).__name__}: {e}): the file is damaged or not Minari's; record "
                "or download it again"
            ) from e
    try:
        return minari.load_dataset(id_or_path, download=download)
    except (FileNotFoundError, ValueError) as e:
        local = ", ".join(sorted(minari.list_local_datasets())) or "none"
        hint = "" if download else " (pass --download to fetch a public dataset)"
        raise ValueError(f"no dataset {id_or_path!r}{hint}: {e}. Local datasets: {local}") from e
    except Exception as e:
        raise ValueError(
            f"dataset {id_or_path!r} cannot be read ({type(e).__name__}: {e}): its files "
            "are damaged; delete it (minari delete) and record or download it again"
        ) from e


def episodes_of(dataset) -> list[Episode]:
    """The dataset's episodes; a dataset holding NaN or inf is refused, saying where."""
    try:
        episodes = [
            Episode(
                np.asarray(ep.observations, np.float32),
                np.asarray(ep.actions, np.float32),
                np.asarray(ep.rewards, np.float64),
                np.asarray(ep.terminations, bool),
                np.asarray(ep.truncations, bool),
            )
            for ep in dataset.iterate_episodes()
        ]
    except Exception as e:
        raise ValueError(
            f"dataset {dataset.spec.dataset_id} cannot be read ({type(e).__name__}: {e}): "
            "its file is damaged; record or download it again"
        ) from e
    check_finite_episodes(episodes, dataset.spec.dataset_id)
    return episodes


def check_finite_episodes(episodes: list[Episode], name: str) -> None:
    """Raise ``ValueError`` naming how many entries are NaN or inf, and the first of each."""
    problems = []
    for field in ("observations", "actions", "rewards"):
        where = [
            (i, int(np.argwhere(~np.isfinite(getattr(ep, field)))[0][0]))
            for i, ep in enumerate(episodes)
            if not np.all(np.isfinite(getattr(ep, field)))
        ]
        if where:
            count = sum(int((~np.isfinite(getattr(episodes[i], field))).sum()) for i, _ in where)
            i, t = where[0]
            problems.append(
                f"{count} non-finite {field} in {len(where)} episodes (first: episode {i}, "
                f"step {t})"
            )
    if problems:
        raise ValueError(
            f"dataset {name} holds NaN or inf: {'; '.join(problems)}. Training on it would "
            "diverge: clean those entries or leave their episodes out"
        )


def transitions_of(episodes: list[Episode]) -> Transition:
    """All steps as one ``Transition`` of float32 arrays (the replay's layout)."""
    cat = lambda f: np.concatenate([f(ep) for ep in episodes]).astype(np.float32)
    return Transition(
        obs=cat(lambda e: e.observations[:-1]),
        action=cat(lambda e: e.actions),
        reward=cat(lambda e: e.rewards),
        next_obs=cat(lambda e: e.observations[1:]),
        terminated=cat(lambda e: e.terminations),
        truncated=cat(lambda e: e.truncations),
    )


def dataset_replay(episodes: list[Episode]) -> ReplayBuffer:
    """A full replay buffer holding every step, episode after episode (stride 1)."""
    obs_dim, act_dim = episodes[0].observations.shape[1], episodes[0].actions.shape[1]
    n = sum(len(ep) for ep in episodes)
    return add(init_replay(n, obs_dim, act_dim), transitions_of(episodes))


def env_spec_of(dataset) -> EnvSpec | None:
    """The env a simbarl dataset was recorded on (None for other datasets)."""
    raw = dataset.storage.metadata.get(META_KEY)
    if raw is None:
        return None
    d = json.loads(raw)
    for k in ("action_low", "action_high"):
        d[k] = None if d.get(k) is None else tuple(d[k])
    return EnvSpec(**d)
