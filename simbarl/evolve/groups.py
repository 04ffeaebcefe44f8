"""Members of one shape trained as one vmapped learner, their float hyperparameters as data.

Members whose configs agree on everything but the float hyperparameters a
mutation scales (``HYPER_FIELDS``, the agent fields declared ``vmapped``: the
learning rates and their end, tau, the target entropy scale, TD3's exploration
noise) and the fields no program depends on (``compute=False``) form a *group*. A group's learner
states are stacked on a leading axis and every population step updates and acts
for all of them in one jitted ``vmap`` call. The hyperparameters are
per-member arrays passed into that call and given to the group's agent
(``ActorCritic.with_hyper``: the optimizers' schedules, the target EMA and the
temperature target read them; networks and shapes are the group's), so a mutated
learning rate or tau changes data, not the program: nothing recompiles. The
learner state, and so the checkpoint, is the one ``simbarl train`` uses.

Batch size, updates per step, architecture and every other field take part in
the group key: members that differ there train in separate groups, regrouped at
the start of every generation.
"""

from __future__ import annotations

import dataclasses
import math
from functools import partial
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from simbarl.config import TrainConfig, program_key, vmapped
from simbarl.replay import add
from simbarl.runs.learner import build_agent, policy
from simbarl.train.seeds import stack
from simbarl.train.step import act, learn_on, learn_settings, reprioritize

HYPER_FIELDS = vmapped()


def group_key(cfg: TrainConfig) -> TrainConfig:
    """``cfg`` without what no program depends on and without the per-member
    hyperparameters: members with equal keys share one compiled program."""
    agent = dataclasses.replace(cfg.agent, **{f: None for f in HYPER_FIELDS})
    return program_key(dataclasses.replace(cfg, agent=agent))


def hyperparameters(cfgs: list[TrainConfig]) -> dict[str, np.ndarray]:
    """The members' ``HYPER_FIELDS`` as float32 arrays ``(members,)``."""
    return {f: np.array([getattr(c.agent, f) for c in cfgs], np.float32) for f in HYPER_FIELDS}


def _select(alive, new, old):
    """Per member: ``new`` where ``alive`` (one bool per member), else ``old``."""
    pick = lambda n, o: jnp.where(alive.reshape((-1,) + (1,) * (n.ndim - 1)), n, o)
    return jax.tree.map(pick, new, old)


def _members(fn, *in_axes):
    """``fn`` over the members' leading axis: vmapped, or for a group of one called
    on its single member (a vmapped ``lax.cond``, such as TD3's policy delay, would
    run both branches)."""

    def call(*args):
        (n,) = {
            jnp.shape(x)[0]
            for a, ax in zip(args, in_axes, strict=True)
            if ax == 0
            for x in jax.tree.leaves(a)
        }
        if n > 1:
            return jax.vmap(fn, in_axes)(*args)
        squeeze = [
            jax.tree.map(lambda x: x[0], a) if ax == 0 else a
            for a, ax in zip(args, in_axes, strict=True)
        ]
        return jax.tree.map(lambda x: jnp.expand_dims(x, 0), fn(*squeeze))

    return call


class GroupProgram:
    """The compiled step and act of one group key, for any group size.

    ``agent`` is a concrete learner of the group's shapes (built from the first
    member's config): what needs no hyperparameter (the deterministic policy,
    state shapes) uses it. ``step`` and ``act`` take the stacked learners and
    the members' ``hyperparameters``, which each member's agent reads (``agent_for``).
    """

    def __init__(self, cfg: TrainConfig, obs_dim: int, action_dim: int, stride: int):
        self.cfg, self.stride = cfg, stride
        self.obs_dim, self.action_dim = obs_dim, action_dim
        self.agent = build_agent(cfg, obs_dim, action_dim)
        agent = self.agent
        self.policy = jax.jit(lambda actor, o, norm: policy(agent, actor, o, norm))
        self.step = jax.jit(self._step, static_argnames="learn", donate_argnums=(0, 1))
        self.act = jax.jit(self._act, static_argnames="random")

    def agent_for(self, hyper: dict[str, Any]):
        """The group's agent with one member's (traced) hyperparameters."""
        return self.agent.with_hyper(hyper)

    def _act_one(self, learner, obs, norm, noise, reset, hyper, alive, random: bool):
        agent = self.agent_for(hyper)
        learner_after, action, noise_after = act(
            agent, learner, obs, norm, noise, reset, explore=True, random=random
        )
        if random:  # every member acts at random: nothing to pick
            return learner_after, action, noise_after
        # A diverged member acts uniformly at random (the warm-up's actions), which keeps
        # the shared buffer's layout and keeps NaN out of the envs and the statistics.
        _, uniform, _ = act(agent, learner, obs, norm, noise, reset, explore=True, random=True)
        return learner_after, jnp.where(alive, action, uniform), noise_after

    def _act(self, learners, obs, norm, noise, reset, hyper, alive, *, random: bool):
        """Every member's next actions ``(members, n, action_dim)``."""
        one = partial(self._act_one, random=random)
        return _members(one, 0, 0, None, 0, 0, 0, 0)(
            learners, obs, norm, noise, reset, hyper, alive
        )

    def _step(
        self, learners, buffer, next_obs, norm, noise, reset, dataset, hyper, alive, *, learn
    ):
        """``utd`` updates of every living member on ``buffer`` (its transitions already
        inserted), then every member's next actions. Returns ``(learners, buffer,
        actions, noise, metrics)``; metrics are stacked per member (``{}`` before learning)."""
        cfg, metrics = self.cfg, {}
        random = not learn and cfg.init_from is None
        if learn:

            def one(learner, h):
                return learn_on(
                    self.agent_for(h),
                    learner,
                    buffer,
                    norm,
                    dataset,
                    **learn_settings(cfg, self.stride),
                )

            new, metrics, td, idx = _members(one, 0, 0)(learners, hyper)
            learners = _select(alive, new, learners)
            if buffer.prioritized:  # the living members' new priorities, member after member
                for k in range(td.shape[0]):
                    updated = reprioritize(buffer, idx[k], td[k], cfg.replay)
                    # a member diverging in this very update keeps NaN out of the shared tree
                    keep = alive[k] & jnp.all(jnp.isfinite(td[k]))
                    pick = lambda u, b, keep=keep: jnp.where(keep, u, b)
                    buffer = jax.tree.map(pick, updated, buffer)
        learners, actions, noise = self._act(
            learners, next_obs, norm, noise, reset, hyper, alive, random=random
        )
        return learners, buffer, actions, noise, metrics


class GroupPrograms:
    """``GroupProgram`` per group key: only a new shape or algorithm compiles anything.

    ``stride``: the envs of the whole population (the shared buffer's row length).
    ``vmap`` False makes every member a group of its own (``form_groups``).
    """

    def __init__(self, obs_dim: int, action_dim: int, stride: int, vmap: bool = True):
        self.obs_dim, self.action_dim, self.stride = obs_dim, action_dim, stride
        self.vmap = vmap  # False: every member is a group of its own
        self._cache: dict[TrainConfig, GroupProgram] = {}
        self.insert = jax.jit(add, donate_argnums=0)

    def shared_warmup(self, cfg: TrainConfig) -> TrainConfig:
        """``cfg`` with the warm-up one member spends: the population's warm-up is shared,
        so every member learns from iteration ``ceil(warmup_steps / stride)`` on, and its
        learning-rate schedule spans the updates from there to the end of the run."""
        iterations = math.ceil(cfg.warmup_steps / self.stride)
        return dataclasses.replace(cfg, warmup_steps=iterations * cfg.num_envs)

    def __call__(self, cfg: TrainConfig) -> GroupProgram:
        key = group_key(cfg)
        if key not in self._cache:
            own = self.shared_warmup(cfg)
            self._cache[key] = GroupProgram(own, self.obs_dim, self.action_dim, self.stride)
        return self._cache[key]


@dataclasses.dataclass
class Group:
    """Members (slot indices, in slot order) trained together in one generation."""

    program: GroupProgram
    slots: list[int]
    learners: Any  # the members' learner states, stacked
    hyper: dict[str, np.ndarray]
    noise: Any = ()  # the members' exploration-noise states, stacked, during a generation


def form_groups(programs: GroupPrograms, cfgs: list[TrainConfig], states: list) -> list[Group]:
    """Group members (in slot order) by ``group_key`` and stack their learner states
    (a group of one member each when ``programs.vmap`` is False)."""
    by_key: dict[Any, list[int]] = {}
    for i, c in enumerate(cfgs):
        by_key.setdefault(group_key(c) if programs.vmap else i, []).append(i)
    groups = []
    for slots in by_key.values():
        members = [cfgs[i] for i in slots]
        groups.append(
            Group(
                programs(members[0]),
                slots,
                stack([states[i] for i in slots]),
                hyperparameters(members),
            )
        )
    return groups
