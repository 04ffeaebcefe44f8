"""One generation of a population on the host: every member on its own envs, one shared replay.

The population steps round-robin: in each population step every member steps
its envs once (member ``i`` on slot ``i``'s ``num_envs`` envs) and then, in
slot order, inserts its transitions into the one shared buffer, learns from it
and picks its next actions, with the same jitted ``train_step`` as
``simbarl train``. The buffer so has the layout of a single vector env of
``population x num_envs`` envs (n-step windows use that stride), and the
observation statistics (RSNorm) and the reward scaler describe the shared data,
so they are shared too. Learning starts once the population together has
gathered ``warmup_steps`` transitions.

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

from simbarl.agents.actor_critic import ActorCritic, reported_metrics
from simbarl.config import TrainConfig
from simbarl.envs.registry import make_env
from simbarl.hpo.population import Member
from simbarl.normalizers import RewardScaler, RunningStats, update_reward_scaler, update_stats
from simbarl.replay import ReplayBuffer
from simbarl.train import run_dir as rd
from simbarl.train.env_runner import EnvRunner
from simbarl.train.evaluate import evaluate
from simbarl.train.finite import non_finite_arrays
from simbarl.train.learner import build_agent, fresh_loop, normalization
from simbarl.train.loop_state import LoopState, cut_episodes
from simbarl.train.step import make_step_fns


@dataclasses.dataclass(frozen=True)
class Program:
    """A member config's learner and its compiled functions."""

    agent: ActorCritic
    step: Any  # train_step: insert, learn, act (learner and buffer donated)
    act: Any
    policy: Any  # deterministic policy on raw observations: (actor, obs, norm) -> action


class Programs:
    """Compiled functions per member config: members with equal configs share them, so
    only a hyperparameter or architecture mutation compiles anything."""

    def __init__(self, obs_dim: int, action_dim: int, stride: int):
        self.obs_dim, self.action_dim, self.stride = obs_dim, action_dim, stride
        self._cache: dict[TrainConfig, Program] = {}

    def shared_warmup(self, cfg: TrainConfig) -> TrainConfig:
        """``cfg`` with the warm-up one member spends: the population's warm-up is shared,
        so every member learns from iteration ``ceil(warmup_steps / stride)`` on, and its
        learning-rate schedule spans the updates from there to the end of the run."""
        iterations = math.ceil(cfg.warmup_steps / self.stride)
        return dataclasses.replace(cfg, warmup_steps=iterations * cfg.num_envs)

    def __call__(self, cfg: TrainConfig) -> Program:
        # What only logs or shows (a resume may change them) compiles nothing new.
        key = dataclasses.replace(cfg, run_dir=None, progress=False, tensorboard=False)
        if key not in self._cache:
            agent = build_agent(self.shared_warmup(cfg), self.obs_dim, self.action_dim)
            step, act = make_step_fns(agent, cfg, self.stride)
            policy = jax.jit(
                lambda actor, o, norm: agent.policy(actor, (o - norm.obs_mean) / norm.obs_std)
            )
            self._cache[key] = Program(agent, step, act, policy)
        return self._cache[key]


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
    metrics: dict = dataclasses.field(default_factory=dict)  # its member's last update


@dataclasses.dataclass
class Population:
    """Everything a generation changes: members, slots, the shared replay and statistics."""

    cfg: TrainConfig  # the resolved starting config (envs, seed, warm-up)
    members: list[Member]
    slots: list[Slot]
    buffer: ReplayBuffer
    obs_stats: RunningStats
    reward_scaler: RewardScaler
    programs: Programs
    dataset: Any = ()  # --init-from an offline run: its dataset, else ()
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
    bounds = rd.action_bounds(cfg)
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


def _program(pop: Population, member: Member, alive: bool) -> Program:
    # A diverged member acts uniformly at random (train_step's warm-up actions), which
    # keeps the buffer's layout and keeps NaN out of the envs and the shared statistics.
    return pop.programs(member.cfg if alive else dataclasses.replace(member.cfg, init_from=None))


def start_generation(pop: Population) -> None:
    """New episodes on every env, and each member's first actions on them."""
    n = pop.cfg.num_envs
    cut = []
    for s, slot in enumerate(pop.slots):
        slot.obs, fresh = slot.runner.start(slot.loop)
        slot.alive = not non_finite_arrays(pop.members[s].state)[0]
        slot.returns, slot.metrics = [], {}
        if fresh:
            pop.obs_stats = update_stats(pop.obs_stats, slot.obs[fresh])
            cut += [s * n + i for i in fresh]
    if cut:  # episodes cut mid-way: their returns restart, n-step windows stop there
        keep = np.ones(pop.envs)
        keep[cut] = 0.0
        pop.reward_scaler = pop.reward_scaler.replace(returns=pop.reward_scaler.returns * keep)
        pop.buffer = cut_episodes(pop.buffer, cut, pop.envs)
    norm = pop.norm()
    for slot, member in zip(pop.slots, pop.members, strict=True):
        prog = _program(pop, member, slot.alive)
        member.state, slot.action, slot.loop.noise = prog.act(
            member.state,
            slot.obs.astype(np.float32),
            norm,
            slot.loop.noise,
            np.ones(n, np.float32),
            explore=True,
            random=_random_acts(pop) or not slot.alive,
        )


def population_step(pop: Population) -> None:
    """Every member steps its envs once, then inserts, learns and acts, in slot order."""
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
    norm, learn = pop.norm(), _learning(pop)
    for slot, member, (transition, *_), mask in zip(
        pop.slots, pop.members, steps, masks, strict=True
    ):
        prog = _program(pop, member, slot.alive)
        member.state, pop.buffer, slot.action, slot.loop.noise, metrics = prog.step(
            member.state,
            pop.buffer,
            transition,
            slot.obs.astype(np.float32),
            norm,
            slot.loop.noise,
            mask,
            pop.dataset,
            learn=learn and slot.alive,
        )
        slot.metrics = metrics or slot.metrics
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
    return reported_metrics(slot.metrics) if slot.metrics else {}
