"""Resolving a config against its task: the fields left ``None`` filled, bounds checked.

Pure config work: the task's facts (episode length, suite preset, action
bounds) come in as an argument (``envs.registry.TaskSpec``), so nothing here
imports the environments.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import numpy as np

from simbarl.config.fields import get_field, set_field
from simbarl.config.presets import suite_values
from simbarl.config.schema import AgentConfig, TrainConfig


def discount_heuristic(max_episode_steps: int, action_repeat: int) -> float:
    """SimbaV2's discount from the effective horizon (agent steps per episode)."""
    horizon = max_episode_steps / action_repeat / 5.0
    return float(np.clip((horizon - 1.0) / horizon, 0.95, 0.995))


def resolve_for_task(cfg: TrainConfig, task: Any) -> TrainConfig:
    """Fill the suite-derived fields of a validated ``cfg`` left as ``None`` from ``task``
    (a ``TaskSpec``): the preset's values for the task's suite, then env count,
    budget, action repeat, discount, the algorithm's fields, action bounds."""
    cfg = fill_suite_values(cfg, task.suite)
    repeat = cfg.action_repeat or task.preset.action_repeat
    cfg = dataclasses.replace(
        cfg,
        num_envs=cfg.num_envs or task.preset.num_envs,
        steps=cfg.steps or task.preset.steps,
    )
    agent = cfg.agent
    if agent.discount is None:
        agent = dataclasses.replace(
            agent, discount=discount_heuristic(task.max_episode_steps, repeat)
        )
    agent = resolve_algo(cfg.algo, agent, task.preset.clipped_double_q)
    cfg = dataclasses.replace(cfg, action_repeat=repeat, agent=agent)
    return resolve_action_bounds(cfg, task)


def fill_suite_values(cfg: TrainConfig, suite: str) -> TrainConfig:
    """The fields ``cfg`` leaves ``None`` that its preset sets for ``suite``
    (``presets.SUITE_VALUES``), filled; the others as they are."""
    for path, value in suite_values(cfg.preset, suite).items():
        if get_field(cfg, path) is None:
            cfg = set_field(cfg, path, value)
    return cfg


def _load_actions(path: str) -> np.ndarray:
    try:
        data = np.load(path)
    except (OSError, ValueError) as e:
        raise ValueError(f"--action-bounds-from {path}: cannot read it ({e})") from e
    if isinstance(data, np.lib.npyio.NpzFile):
        with data:
            names = [k for k in ("actions", "action") if k in data.files]
            if not names:
                raise ValueError(f"--action-bounds-from {path}: no 'actions' array in it")
            data = data[names[0]]
    return np.asarray(data, np.float64)


def resolve_action_bounds(cfg: TrainConfig, task: Any) -> TrainConfig:
    """Fill, broadcast and check the action-space bounds (``--action-low`` etc.)."""
    low, high = cfg.action_low, cfg.action_high
    if cfg.action_bounds_from and (low is None or high is None):
        actions = _load_actions(cfg.action_bounds_from)
        if actions.ndim != 2 or actions.shape[1] != task.action_dim or len(actions) < 2:
            raise ValueError(
                f"--action-bounds-from {cfg.action_bounds_from}: expected an array of shape "
                f"(N, {task.action_dim}), got {actions.shape}"
            )
        p = cfg.action_percentile
        low = low if low is not None else tuple(np.percentile(actions, p, axis=0).tolist())
        high = high if high is not None else tuple(np.percentile(actions, 100 - p, axis=0).tolist())
    if low is None and high is None:
        return cfg
    dim = task.action_dim

    def full(values, own, name):
        values = own if values is None else tuple(float(v) for v in values)
        if len(values) == 1:
            values = values * dim
        if len(values) != dim:
            raise ValueError(f"--{name} needs 1 or {dim} values for {task.env_id}")
        return values

    low = full(low, task.action_low, "action-low")
    high = full(high, task.action_high, "action-high")
    bad = [
        i for i in range(dim) if not task.action_low[i] <= low[i] < high[i] <= task.action_high[i]
    ]
    if bad:
        raise ValueError(
            f"action bounds must satisfy env low <= low < high <= env high; dimensions {bad} "
            f"do not ({task.env_id} allows {task.action_low} .. {task.action_high})"
        )
    return dataclasses.replace(cfg, action_low=low, action_high=high)


def action_bounds(cfg: TrainConfig) -> tuple | None:
    """``(low, high)`` for ``make_env``, or None for the env's own bounds."""
    if cfg.action_low is None:
        return None
    return cfg.action_low, cfg.action_high


def resolve_algo(algo: str, agent: AgentConfig, suite_clipped_double_q: bool) -> AgentConfig:
    """Fill the fields each algorithm sets its own way (see ``AgentConfig``)."""
    fill = {}
    if algo == "tqc":
        fill["critic_type"] = "quantile"
        fill["clipped_double_q"] = False  # truncation replaces the min over critics
    elif agent.clipped_double_q is None:
        by_algo = {"sac": suite_clipped_double_q, "td3": True, "ddpg": False, "flashsac": True}
        fill["clipped_double_q"] = by_algo[algo]
    if agent.policy_delay is None:
        fill["policy_delay"] = 2 if algo in ("td3", "flashsac") else 1
    if agent.policy_noise is None:
        fill["policy_noise"] = 0.2 if algo == "td3" else 0.0
    return dataclasses.replace(agent, **fill)


def num_critics(algo: str, agent: AgentConfig) -> int:
    """Critics in the ensemble: TQC's count, else two for clipped double-Q."""
    if algo == "tqc":
        return agent.tqc_critics
    return 2 if agent.clipped_double_q else 1
