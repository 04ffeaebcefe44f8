"""One generation of a population on the host: every member on its own envs, one shared replay.

In each population step every member steps its envs once (member ``i`` on
slot ``i``'s ``num_envs`` envs), all their transitions go into the one shared
buffer in slot order, and then every group of members of one shape
(``evolve.groups``) learns from it and picks its next actions in one vmapped call,
with the updates and actions of ``simbarl train``. The buffer so has the layout
of a single vector env of ``population x num_envs`` envs (n-step windows use
that stride), and the observation statistics (RSNorm) and the reward scaler
describe the shared data, so they are shared too. Learning starts once the
population together has gathered ``warmup_steps`` transitions.

Members' learner states are stacked into their groups when a generation starts
(``start_generation``) and handed back when it ends (``finish_generation``).

Every generation starts new episodes on every env (the env seeds follow the
slot, ``seed + i``, and the episode count), so a checkpoint taken between two
generations resumes exactly: nothing in flight is lost.
"""

from __future__ import annotations

import dataclasses
import math
from typing import Any

import jax
import numpy as np

from simbarl.agents.actor_critic import reported_metrics
from simbarl.config import TrainConfig, action_bounds
from simbarl.envs.registry import make_env
from simbarl.evolve.groups import Group, GroupPrograms, form_groups
from simbarl.evolve.population import Member
from simbarl.normalizers import RewardScaler, RunningStats, update_reward_scaler, update_stats
from simbarl.replay import ReplayBuffer
from simbarl.runs.finite import non_finite_arrays
from simbarl.runs.learner import fresh_loop, normalization
from simbarl.runs.loop_state import LoopState, cut_episodes
from simbarl.train.env_runner import EnvRunner
from simbarl.train.evaluate import evaluate
from simbarl.train.seeds import stack, unstack


@dataclasses.dataclass
class Slot:
    """The envs of one place in the population; member ``i`` trains on slot ``i``."""

    runner: EnvRunner
    eval_env: Any
    loop: LoopState  # episode bookkeeping and exploration noise of the slot's envs
    obs: np.ndarray | None = None
    action: Any = None  # (num_envs, action_dim) chosen for the next step
    alive: bool = True  # False once its member diverged: it then acts at random
    returns: list = dataclasses.field(default_factory=list)  # this generation's episodes
    metrics: tuple = ()  # its member's last update: (its group's stacked metrics, its row)


@dataclasses.dataclass
class Population:
    """Everything a generation changes: members, slots, the shared replay and statistics."""

    cfg: TrainConfig  # the resolved starting config (envs, seed, warm-up)
    members: list[Member]
    slots: list[Slot]
    buffer: ReplayBuffer
    obs_stats: RunningStats
    reward_scaler: RewardScaler
    programs: GroupPrograms
    dataset: Any = ()  # --init-from an offline run: its dataset, else ()
    groups: list[Group] = dataclasses.field(default_factory=list)  # this generation's
    iteration: int = 0  # population steps so far
    generation: int = 0  # generations done
    next_id: int = 0

    @property
    def envs(self) -> int:
        return len(self.slots) * self.cfg.num_envs

    @property
    def warmup_iters(self) -> int:
        return math.ceil(self.cfg.warmup_steps / self.envs)

    def norm(self):
        return normalization(self.cfg, self.obs_stats, self.reward_scaler)


def make_slots(cfg: TrainConfig, population: int, obs_dim: int, action_dim: int) -> list[Slot]:
    """Slot ``i``: ``num_envs`` training envs seeded ``seed + i`` and an evaluation env."""
    bounds = action_bounds(cfg)
    slots = []
    for i in range(population):
        runner = EnvRunner(cfg.env, cfg.action_repeat, cfg.num_envs, cfg.seed + i, bounds)
        eval_env = make_env(cfg.env, cfg.action_repeat, bounds=bounds)
        loop = fresh_loop(cfg, obs_dim, action_dim, cfg.seed + i)
        loop.obs_stats = loop.reward_scaler = None  # the population's, not the slot's
        slots.append(Slot(runner, eval_env, loop))
    return slots


def _learning(pop: Population) -> bool:
    return pop.iteration + 1 >= pop.warmup_iters


def _random_acts(pop: Population) -> bool:
    return pop.iteration < pop.warmup_iters and pop.cfg.init_from is None


def _group_inputs(pop: Population, group: Group):
    """A group's slots and stacked host inputs: next observations and liveness."""
    slots = [pop.slots[i] for i in group.slots]
    obs = np.stack([s.obs.astype(np.float32) for s in slots])
    alive = np.array([s.alive for s in slots])
    return slots, obs, alive


def _hand_out(slots: list[Slot], actions) -> None:
    actions = np.asarray(actions)  # one transfer for the group
    for k, slot in enumerate(slots):
        slot.action = actions[k]


def start_generation(pop: Population) -> None:
    """New episodes on every env, the members stacked into their groups, and each
    member's first actions on them."""
    n = pop.cfg.num_envs
    cut = []
    for s, slot in enumerate(pop.slots):
        slot.obs, fresh = slot.runner.start(slot.loop)
        slot.alive = not non_finite_arrays(pop.members[s].state)[0]
        slot.returns, slot.metrics = [], ()
        if fresh:
            pop.obs_stats = update_stats(pop.obs_stats, slot.obs[fresh])
            cut += [s * n + i for i in fresh]
    if cut:  # episodes cut mid-way: their returns restart, n-step windows stop there
        keep = np.ones(pop.envs)
        keep[cut] = 0.0
        pop.reward_scaler = pop.reward_scaler.replace(returns=pop.reward_scaler.returns * keep)
        pop.buffer = cut_episodes(pop.buffer, cut, pop.envs)
    pop.groups = form_groups(
        pop.programs, [m.cfg for m in pop.members], [m.state for m in pop.members]
    )
    norm = pop.norm()
    for group in pop.groups:
        slots, obs, alive = _group_inputs(pop, group)
        group.noise = stack([s.loop.noise for s in slots])  # stays stacked until the end
        group.learners, actions, group.noise = group.program.act(
            group.learners,
            obs,
            norm,
            group.noise,
            np.ones((len(slots), n), np.float32),
            group.hyper,
            alive,
            random=_random_acts(pop),
        )
        _hand_out(slots, actions)


def finish_generation(pop: Population) -> None:
    """Hand every member its learner state, and every slot its noise, back from its group."""
    for group in pop.groups:
        n = len(group.slots)
        states, noises = unstack(group.learners, n), unstack(group.noise, n)
        for i, state, noise in zip(group.slots, states, noises, strict=True):
            pop.members[i].state = state
            pop.slots[i].loop.noise = noise
    pop.groups = []


def population_step(pop: Population) -> None:
    """Every member steps its envs once; all transitions go into the buffer in slot
    order; then every group learns and acts in one call."""
    steps = []
    for slot in pop.slots:
        action = np.asarray(slot.action)
        if not np.all(np.isfinite(action)):  # its learner diverged in the last update
            slot.alive, action = False, np.zeros_like(action)
        steps.append(slot.runner.step(slot.obs, action))
    reward = np.concatenate([s[2] for s in steps])
    done = np.concatenate([s[3] for s in steps])
    gamma = pop.cfg.agent.discount
    pop.reward_scaler = update_reward_scaler(pop.reward_scaler, reward, done, gamma)
    pop.obs_stats = update_stats(pop.obs_stats, np.concatenate([s[1] for s in steps]))
    masks = []
    for slot, (_, nxt, r, d) in zip(pop.slots, steps, strict=True):
        slot.loop.episode_return += r
        slot.obs, ended, ended_returns = slot.runner.reset_ended(nxt, d, slot.loop)
        mask = np.zeros(pop.cfg.num_envs, np.float32)
        if len(ended):
            slot.returns += ended_returns
            pop.obs_stats = update_stats(pop.obs_stats, slot.obs[ended])
            mask[ended] = 1.0  # new episodes: fresh exploration noise
        masks.append(mask)
    transitions = jax.tree.map(lambda *x: np.concatenate(x), *[s[0] for s in steps])
    pop.buffer = pop.programs.insert(pop.buffer, transitions)
    norm, learn = pop.norm(), _learning(pop)
    for group in pop.groups:
        slots, obs, alive = _group_inputs(pop, group)
        group.learners, pop.buffer, actions, group.noise, metrics = group.program.step(
            group.learners,
            pop.buffer,
            obs,
            norm,
            group.noise,
            np.stack([masks[i] for i in group.slots]),
            pop.dataset,
            group.hyper,
            alive,
            learn=learn,
        )
        _hand_out(slots, actions)
        if metrics:
            for k, slot in enumerate(slots):
                slot.metrics = (metrics, k)
    pop.iteration += 1


def fitness(pop: Population, episodes: int) -> list[float]:
    """Each member's mean return over ``episodes`` deterministic episodes on its slot's
    evaluation env; every member plays the same episodes (seeded by the generation).
    A diverged member is not played: NaN, which ranks below everything."""
    norm, out = pop.norm(), []
    for slot, member in zip(pop.slots, pop.members, strict=True):
        if not slot.alive or non_finite_arrays(member.state)[0]:
            slot.alive = False
            out.append(math.nan)
            continue
        policy = pop.programs(member.cfg).policy
        actor = member.state.actor
        result = evaluate(
            slot.eval_env,
            lambda o, actor=actor, policy=policy: policy(actor, o, norm),
            episodes,
            pop.cfg.seed,
            round_index=pop.generation,
        )
        out.append(float(result.returns.mean()))
    return out


def last_losses(slot: Slot) -> dict[str, float]:
    """The member's metrics of its last update this generation (``{}`` before learning)."""
    if not slot.metrics:
        return {}
    stacked, row = slot.metrics
    return reported_metrics({k: v[row] for k, v in jax.device_get(stacked).items()})
