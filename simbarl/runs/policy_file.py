"""A trained policy on its own: what acting needs, and a file that holds only that.

A run's ``checkpoint.npz`` carries everything a run resumes from: the replay buffer
(most of its size), the critics, their targets and every optimizer state. A policy
file (``simbarl export RUN --policy policy.npz``) carries the actor's weights, the
observation normalization, the action bounds and the config that rebuilds the
actor, as ``.npz`` arrays with a JSON ``__meta__`` like a checkpoint (no pickle).
``load_policy`` reads it back as a ``Policy``, whose ``act`` is ``Agent.act``'s own
computation: ``runs.learner.policy`` on the same arrays.
"""

from __future__ import annotations

import importlib.metadata
from functools import partial
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np

from simbarl.config import TrainConfig, config_from_dict, config_to_dict
from simbarl.normalizers import Normalization
from simbarl.runs import checkpoint
from simbarl.runs.finite import non_finite_arrays
from simbarl.runs.learner import build_agent, policy

FORMAT = "simbarl-policy"
FORMAT_VERSION = 1
COUNTS = ("format_version", "env_step", "obs_dim", "action_dim")


def simbarl_version() -> str:
    try:
        return importlib.metadata.version("simbarl")
    except importlib.metadata.PackageNotFoundError:
        return "unknown"


class Policy:
    """The deterministic (or sampled) policy of a trained run, without its training state.

    ``act(obs)`` takes raw env observations, one ``(obs_dim,)`` or a batch ``(n,
    obs_dim)``, and gives actions in the task's units (``bounds``); ``env_units=False``
    gives them in ``[-1, 1]`` as ``Agent.act`` does by default. ``meta`` holds the
    env id, ``obs_dim``, ``action_dim``, ``action_repeat``, ``observation_layout``,
    ``algo``, ``encoder``, ``env_step`` and the simbarl version that wrote it.
    """

    def __init__(self, config: TrainConfig, actor, norm: Normalization, bounds, meta: dict):
        self.config = config
        self.meta = meta
        self.obs_dim, self.action_dim = int(meta["obs_dim"]), int(meta["action_dim"])
        self.learner_def = build_agent(config, self.obs_dim, self.action_dim, total_updates=1)
        self.actor, self.norm = actor, norm
        self.bounds = bounds  # (low, high) float32 (action_dim,): what [-1, 1] maps to
        self._policy = jax.jit(partial(policy, self.learner_def))
        self._key = jax.random.PRNGKey(config.seed + 1)

    @property
    def env_step(self) -> int:
        return int(self.meta["env_step"])

    def act(self, obs, deterministic: bool = True, env_units: bool = True) -> np.ndarray:
        """Actions for ``obs``: the policy's mode, or a sample (``deterministic=False``),
        in the task's units, or in ``[-1, 1]`` with ``env_units=False``."""
        obs = np.asarray(obs, np.float32)
        single = obs.ndim == 1
        obs = obs.reshape(-1, self.obs_dim)
        key, bounds = None, (self.bounds if env_units else None)
        if not deterministic:
            self._key, key = jax.random.split(self._key)
        action = np.asarray(self._policy(self.actor, obs, self.norm, key, bounds))
        return action[0] if single else action

    def save(self, path: str | Path) -> None:
        """Write the policy file (atomically: a failed write leaves no partial file)."""
        path = Path(path)
        norm = {"obs_mean": self.norm.obs_mean, "obs_std": self.norm.obs_std}
        low, high = self.bounds
        trees = {"actor": self.actor, "norm": norm, "bounds": {"low": low, "high": high}}
        meta = {**self.meta, "config": config_to_dict(self.config)}
        try:
            checkpoint.write(path, trees, meta)
        except OSError as e:
            raise ValueError(f"cannot write {path} ({e.strerror or e})") from e


def describe(config: TrainConfig, obs_dim: int, action_dim: int, env_step: int) -> dict:
    """The policy's metadata (all but the config): what a user of the file needs to know."""
    from simbarl.envs.registry import observation_layout

    return {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "simbarl_version": simbarl_version(),
        "env": config.env,
        "algo": config.algo,
        "encoder": config.agent.actor.encoder,
        "env_step": int(env_step),
        "obs_dim": int(obs_dim),
        "action_dim": int(action_dim),
        "action_repeat": int(config.action_repeat),
        "observation_layout": observation_layout(config.env),
    }


def _damaged(path: Path, error: Exception) -> ValueError:
    return ValueError(
        f"policy file {path} is damaged and cannot be read ({checkpoint.reason(error)}): "
        "export it again from its run (simbarl export RUN --policy FILE)"
    )


def load_policy(path: str | Path) -> Policy:
    """Load a policy file written by ``simbarl export RUN --policy FILE``.

    Returns a ``Policy`` whose ``act(obs)`` gives the run's deterministic actions in
    the task's units, equal to ``load_agent(RUN).act(obs, env_units=True)``. It needs
    simbarl and JAX; for a runtime without them export an ONNX model
    (``simbarl export RUN --onnx FILE``)."""
    path = Path(path)
    if not path.is_file():
        raise ValueError(f"{path} is not a file: no policy to load")
    meta = checkpoint.read_meta(path, on_damage=_damaged)
    if meta.get("format") != FORMAT:
        hint = " (a run's checkpoint: load it with load_agent(RUN))" if "iteration" in meta else ""
        raise ValueError(f"{path} is not a simbarl policy file{hint}")
    meta = checkpoint.read_meta(path, COUNTS, on_damage=_damaged)
    if meta["format_version"] > FORMAT_VERSION:
        raise ValueError(
            f"{path} is a policy file of format {meta['format_version']}, newer than this "
            f"simbarl reads ({FORMAT_VERSION}): upgrade simbarl"
        )
    try:
        config = config_from_dict(meta.pop("config"))
    except (KeyError, TypeError, ValueError, AttributeError) as e:
        raise ValueError(f"policy file {path} holds no valid config ({e})") from e
    obs_dim, action_dim = meta["obs_dim"], meta["action_dim"]
    learner_def = build_agent(config, obs_dim, action_dim, total_updates=1)
    zeros = jnp.zeros((1, obs_dim), jnp.float32)
    shapes = jax.eval_shape(learner_def.actor_net.init, jax.random.PRNGKey(0), zeros)
    obs, act = np.zeros(obs_dim, np.float32), np.zeros(action_dim, np.float32)
    templates = {
        "actor": jax.tree.map(lambda s: np.zeros(s.shape, s.dtype), shapes),
        "norm": {"obs_mean": obs, "obs_std": obs},
        "bounds": {"low": act, "high": act},
    }
    try:
        trees, _ = checkpoint.load(path, templates, counts=COUNTS, on_damage=_damaged)
    except checkpoint.CheckpointMismatch as e:
        why = f"policy file {path} does not match the actor its config builds"
        raise ValueError(f"{why}: {e}") from e
    bad, total = non_finite_arrays(trees)
    if bad:
        raise ValueError(f"policy file {path} holds NaN or inf in {len(bad)} of {total} arrays")
    norm = Normalization(
        obs_mean=trees["norm"]["obs_mean"],
        obs_std=trees["norm"]["obs_std"],
        reward_scale=np.float32(1.0),  # acting never scales rewards
    )
    bounds = (trees["bounds"]["low"], trees["bounds"]["high"])
    return Policy(config, trees["actor"], norm, bounds, meta)
