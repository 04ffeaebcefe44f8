"""A population's generation inside the device loop, for ``mjx:``, ``brax:`` and ``jax:`` tasks.

The host population (``loop.py``) moved onto the accelerator, its semantics
kept: one ``VecEnv`` of ``population x num_envs`` envs (slot ``i``, member
``i``'s, is envs ``[i * n, (i + 1) * n)``), every population step's
transitions inserted into the one shared device replay in slot order (so its
n-step stride is the whole population's), the observation statistics and the
reward scaler shared (float32 here, as ``train/device.py`` keeps them), and
then every group of members of one shape (``groups.py``) learning and acting
in its vmapped call, its members' hyperparameters passed as data. The groups
are fixed within a generation, so a Python loop over them inside the traced
step compiles once per group layout (``Layout``); a chunk of population steps
is one ``lax.scan`` in one call, as in ``simbarl train``'s device loop
(Flajolet et al., ICML 2022: a population's step near one member's cost where
the device has room).

Between generations the population lives on the host as ``loop.Population``
does (members, the shared replay, float64 statistics, slot noise), so the
checkpoint, ``RUN/best``, the rows and the lineage are the host population's.
Every generation starts new episodes on every env (keys from the seed and the
population step), so a resume repeats the uninterrupted run exactly.
Fitness: each member's deterministic policy plays ``--fitness-episodes``
episodes in parallel on device envs, a group's members vmapped, every member
the same episodes (keyed by the generation). A diverged member acts at random
and scores NaN, as on the host.
"""

from __future__ import annotations

import math
from functools import partial

import jax
import jax.numpy as jnp
import numpy as np
from flax import struct

from simbarl.envs.device_tasks import load_device_task
from simbarl.envs.vector_jax import VecState, run_episodes
from simbarl.evolve.groups import Group, GroupPrograms, form_groups, group_key
from simbarl.evolve.loop import Population, Slot
from simbarl.normalizers import RewardScaler, RunningStats, update_reward_scaler, update_stats
from simbarl.replay import Transition, add
from simbarl.runs.finite import non_finite_arrays
from simbarl.runs.learner import fresh_loop, normalization, policy
from simbarl.runs.loop_state import cut_episodes
from simbarl.train.device import (
    env_key,
    eval_key,
    float32_tree,
    float64_tree,
    masked_scan,
    vec_env,
)
from simbarl.train.seeds import stack, unstack


@struct.dataclass
class PopCarry:
    """What a chunk of population steps reads and writes; per-group trees are tuples."""

    learners: tuple  # per group: its members' learner states, stacked
    noise: tuple  # per group: its members' exploration-noise states, stacked
    buffer: object  # the shared replay, population x num_envs rows per step
    env: VecState  # population x num_envs envs, slot after slot
    obs: jnp.ndarray  # (population * n, obs_dim) observations the next actions are for
    action: jnp.ndarray  # (population * n, action_dim) the chosen next actions
    alive: jnp.ndarray  # (population,) bool: False once a member diverged
    obs_stats: RunningStats  # float32, shared
    scaler: RewardScaler  # shared; returns (population * n,)
    episode_return: jnp.ndarray  # (population * n,) of the episodes in flight
    ended_sum: jnp.ndarray  # (population,) returns of the episodes ended this generation
    ended_count: jnp.ndarray  # (population,) int32


KEPT_LAYOUTS = 4  # compiled population steps kept per population
Layout = tuple  # ((group key, slots), ...) of a generation: what a compiled step depends on


def layout_of(groups: list[Group]) -> Layout:
    return tuple((group_key(g.program.cfg), tuple(g.slots)) for g in groups)


def device_slots(cfg, population: int, obs_dim: int, action_dim: int) -> list[Slot]:
    """Slot ``i``'s bookkeeping (its exploration noise seeded ``seed + i``); its envs are
    the device env's ``i``-th block, so it has no host env of its own."""
    slots = []
    for i in range(population):
        loop = fresh_loop(cfg, obs_dim, action_dim, cfg.seed + i)
        loop.obs_stats = loop.reward_scaler = None  # the population's, not the slot's
        slots.append(Slot(runner=None, eval_env=None, loop=loop))
    return slots


def _blocks(x, population: int):
    """``(population * n, ...)`` -> ``(population, n, ...)``: slot after slot."""
    return x.reshape((population, -1) + x.shape[1:])


class PopulationStep:
    """The compiled ``begin``, ``chunk`` and ``fitness`` of one group layout."""

    def __init__(self, device: DevicePopulation, groups: list[Group]):
        self.device, self.cfg = device, device.cfg
        self.groups = [(g.program, np.array(g.slots)) for g in groups]
        self.begin = jax.jit(self._begin, static_argnames="random", donate_argnums=(0, 1, 2))
        self.chunk = jax.jit(self._chunk, static_argnames=("length", "learn"), donate_argnums=0)
        self.fitness = jax.jit(self._fitness)

    def _act_all(self, learners, noise, obs, norm, reset, hypers, alive, random: bool):
        """Every group's next actions, put back in slot order ``(population * n, action_dim)``."""
        p = self.device.population
        obs, reset = _blocks(obs, p), _blocks(reset, p)
        actions = jnp.zeros((p, obs.shape[1], self.device.action_dim), jnp.float32)
        out_l, out_n = [], []
        for (program, slots), lg, ng, h in zip(self.groups, learners, noise, hypers, strict=True):
            lg, a, ng = program._act(
                lg, obs[slots], norm, ng, reset[slots], h, alive[slots], random=random
            )
            actions = actions.at[slots].set(a)
            out_l.append(lg)
            out_n.append(ng)
        return tuple(out_l), tuple(out_n), actions.reshape(-1, actions.shape[-1])

    def _begin(self, learners, noise, buffer, alive, stats, scaler, hypers, key, *, random):
        """New episodes on every env and every member's first actions."""
        env, obs = self.device.venv.reset(key)
        stats = update_stats(stats, obs)
        scaler = scaler.replace(returns=scaler.returns * 0)
        norm = normalization(self.cfg, stats, scaler)
        ones = jnp.ones((obs.shape[0],), jnp.float32)
        learners, noise, action = self._act_all(
            learners, noise, obs, norm, ones, hypers, alive, random
        )
        p = self.device.population
        zeros = jnp.zeros((p,), jnp.float32)
        return PopCarry(
            learners, noise, buffer, env, obs, action, alive, stats, scaler,
            ones * 0, zeros, zeros.astype(jnp.int32),
        )  # fmt: skip

    def _body(self, c: PopCarry, hypers, dataset, learn: bool):
        """One population step: step every env, update the shared statistics, insert in
        slot order, then every group learns and acts."""
        p = self.device.population
        # a member whose last update diverged acts with zeros once, then at random
        finite = jnp.all(jnp.isfinite(_blocks(c.action, p)), axis=(1, 2))
        alive = c.alive & finite
        action = jnp.where(jnp.repeat(finite, c.action.shape[0] // p)[:, None], c.action, 0.0)
        out = self.device.venv.step(c.env, action)
        done = jnp.maximum(out.terminated, out.truncated)
        scaler = update_reward_scaler(c.scaler, out.reward, done, self.cfg.agent.discount)
        stats = update_stats(c.obs_stats, out.final_obs)
        stats = update_stats(stats, out.obs, done)  # first observations of new episodes
        tr = Transition(c.obs, action, out.reward, out.final_obs, out.terminated, out.truncated)
        buffer = add(c.buffer, tr)
        norm = normalization(self.cfg, stats, scaler)
        obs, reset = _blocks(out.obs, p), _blocks(done, p)
        actions = jnp.zeros_like(_blocks(action, p))
        learners, noise, metrics = [], [], []
        for (program, slots), lg, ng, h in zip(
            self.groups, c.learners, c.noise, hypers, strict=True
        ):
            lg, buffer, a, ng, m = program._step(
                lg, buffer, obs[slots], norm, ng, reset[slots], dataset, h, alive[slots],
                learn=learn,
            )  # fmt: skip
            actions = actions.at[slots].set(a)
            learners.append(lg)
            noise.append(ng)
            metrics.append(m)
        ret = c.episode_return + out.reward
        ended_sum = c.ended_sum + _blocks(ret * done, p).sum(1)
        ended_count = c.ended_count + _blocks(done, p).sum(1).astype(jnp.int32)
        carry = PopCarry(
            tuple(learners), tuple(noise), buffer, out.state, out.obs,
            actions.reshape(action.shape), alive, stats, scaler, ret * (1.0 - done),
            ended_sum, ended_count,
        )  # fmt: skip
        return carry, tuple(metrics)

    def _chunk(self, carry: PopCarry, hypers, dataset, active, *, length: int, learn: bool):
        """``length`` scanned population steps of which the first ``active`` run (one
        compiled length serves every chunk); returns the last step's metrics per group."""
        step_fn = partial(self._body, hypers=hypers, dataset=dataset, learn=learn)
        return masked_scan(step_fn, carry, active, length)

    def _fitness(self, actors: tuple, stats, scaler, key):
        """Per group ``(members, episodes)`` returns of the deterministic policies, every
        member on the same episodes."""
        norm = normalization(self.cfg, stats, scaler)
        venv, out = self.device.eval_env, []
        for (program, _), actor in zip(self.groups, actors, strict=True):

            def play(actor, agent=program.agent):
                return run_episodes(venv, lambda o: policy(agent, actor, o, norm), key)[0]

            out.append(jax.vmap(play)(actor))
        return tuple(out)


class DevicePopulation:
    """A population's device env, evaluation envs and compiled steps (per group layout)."""

    def __init__(self, cfg, programs: GroupPrograms, population: int, fitness_episodes: int):
        task = load_device_task(cfg.env, cfg.mjx_impl)
        self.cfg, self.programs, self.population = cfg, programs, population
        self.action_dim = programs.action_dim
        self.venv = vec_env(cfg, task, population * cfg.num_envs)
        self.eval_env = vec_env(cfg, task, fitness_episodes)
        self._steps: dict[Layout, PopulationStep] = {}

    def step_for(self, groups: list[Group]) -> PopulationStep:
        """The compiled step of ``groups``' layout; the few latest layouts are kept (arch
        mutations make a new one most generations, and a generation's fitness reuses its own)."""
        layout = layout_of(groups)
        if layout in self._steps:  # the most recently used last
            self._steps[layout] = self._steps.pop(layout)
        else:
            while len(self._steps) >= KEPT_LAYOUTS:
                self._steps.pop(next(iter(self._steps)))
            self._steps[layout] = PopulationStep(self, groups)
        return self._steps[layout]

    def start(self, pop: Population, random: bool) -> tuple[PopCarry, PopulationStep]:
        """New episodes on every env (the last stored step of each cut, as the host's
        restart does) and the members stacked into their groups. ``pop.buffer`` moves
        into the carry (donated: no second copy of the replay) until ``finish``."""
        for s, slot in enumerate(pop.slots):
            slot.alive = not non_finite_arrays(pop.members[s].state)[0]
            slot.returns, slot.metrics = [], ()
        pop.buffer = cut_episodes(pop.buffer, list(range(pop.envs)), pop.envs)
        pop.groups = form_groups(
            pop.programs, [m.cfg for m in pop.members], [m.state for m in pop.members]
        )
        step = self.step_for(pop.groups)
        learners = tuple(g.learners for g in pop.groups)
        noise = tuple(stack([pop.slots[i].loop.noise for i in g.slots]) for g in pop.groups)
        alive = jnp.asarray([s.alive for s in pop.slots])
        key = env_key(pop.cfg.seed, pop.iteration)
        stats, scaler = float32_tree(pop.obs_stats), float32_tree(pop.reward_scaler)
        carry = step.begin(
            learners, noise, pop.buffer, alive, stats, scaler, hypers(pop), key, random=random
        )
        pop.buffer = None  # donated to the carry: a stray use fails plainly until finish
        return carry, step

    def finish(self, pop: Population, carry: PopCarry) -> None:
        """Hand every member its learner state, every slot its noise and training
        returns, and the population its replay and statistics back."""
        alive = np.asarray(carry.alive)
        sums, counts = np.asarray(carry.ended_sum), np.asarray(carry.ended_count)
        for group, learners, noise in zip(pop.groups, carry.learners, carry.noise, strict=True):
            n = len(group.slots)
            for i, state, nz in zip(
                group.slots, unstack(learners, n), unstack(noise, n), strict=True
            ):
                pop.members[i].state = state
                slot = pop.slots[i]
                slot.loop.noise, slot.alive = nz, bool(alive[i])
                slot.returns = [float(sums[i]) / int(counts[i])] if counts[i] else []
        pop.buffer = carry.buffer
        pop.obs_stats, pop.reward_scaler = float64_tree(carry.obs_stats), float64_tree(carry.scaler)
        pop.groups = []

    def fitness(self, pop: Population, episodes: int) -> list[float]:
        """Each member's mean return over the generation's evaluation episodes; NaN for a
        diverged member."""
        groups = form_groups(
            pop.programs, [m.cfg for m in pop.members], [m.state for m in pop.members]
        )
        step = self.step_for(groups)
        key = eval_key(pop.cfg.seed, pop.generation)
        stats, scaler = float32_tree(pop.obs_stats), float32_tree(pop.reward_scaler)
        returns = step.fitness(tuple(g.learners.actor for g in groups), stats, scaler, key)
        out = [math.nan] * len(pop.members)
        for group, r in zip(groups, jax.device_get(returns), strict=True):
            for k, i in enumerate(group.slots):
                slot = pop.slots[i]
                if slot.alive and not non_finite_arrays(pop.members[i].state)[0]:
                    out[i] = float(np.mean(r[k]))
                else:
                    slot.alive = False
        return out


def hypers(pop: Population) -> tuple:
    return tuple(g.hyper for g in pop.groups)


def group_metrics(pop: Population, metrics: tuple) -> None:
    """Each slot's last update's metrics: ``(its group's stacked metrics, its row)``."""
    for group, m in zip(pop.groups, metrics, strict=True):
        if m:
            for k, i in enumerate(group.slots):
                pop.slots[i].metrics = (m, k)
