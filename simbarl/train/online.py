"""The host engine: Gymnasium envs on the CPU, one jitted call per agent step.

Per agent step: step every training env; store the transition with its true
final observation; update the reward scaler and RSNorm statistics (float64,
host); reset finished envs (episode ``k`` of env ``i`` is reset with a seed
derived from ``(seed, i, k)``, so episodes are reproducible across resumes);
then one jitted call inserts, runs ``utd`` updates and picks the next action.
A checkpoint holds the envs' state, so a resume continues the episodes in
flight and repeats the uninterrupted run to the last digit.
The session (``session.py``) does everything else: the run directory, logs,
evaluations, checkpoints, stopping.

With ``--overlap`` (for GPUs) an agent step is two jitted calls: the
updates are dispatched first and run on the accelerator while the host steps the
envs with the actions it already has; then one call inserts the new transitions
and acts (``step.make_overlap_fns``).
"""

from __future__ import annotations

import jax
import numpy as np

from simbarl.config import action_bounds
from simbarl.envs.registry import make_env
from simbarl.normalizers import update_reward_scaler, update_stats
from simbarl.runs import run_dir as rd
from simbarl.runs.env_checkpoint import env_info, load_env
from simbarl.runs.learner import build_agent, normalization, policy
from simbarl.runs.loop_state import cut_episodes
from simbarl.train.engine import Engine, restart_warning
from simbarl.train.env_runner import EnvRunner
from simbarl.train.evaluate import EvalResult, evaluate
from simbarl.train.session import Session
from simbarl.train.step import make_overlap_fns, make_step_fns
from simbarl.train.warm_start import dataset_buffer


def _env_mask(num_envs: int, envs) -> np.ndarray:
    """``(num_envs,)`` float32, 1.0 at ``envs``."""
    mask = np.zeros(num_envs, np.float32)
    mask[np.asarray(envs, int)] = 1.0
    return mask


class HostEngine(Engine):
    """The session's learner advanced by stepping Gymnasium envs on the host."""

    def __init__(self, session: Session):
        cfg, seeds, task = session.cfg, session.seeds, session.task
        self.agent = agent = build_agent(cfg, task.obs_dim, task.action_dim)
        self.session = session
        self.cfg, self.seeds = cfg, seeds
        opened = session.open(agent)
        self.step_fn, self.act_fn = make_step_fns(agent, cfg)
        self.overlap = make_overlap_fns(agent, cfg) if cfg.overlap else None
        if self.overlap is not None:
            self.start_line = "the updates run beside the env steps (--overlap)"
        bounds = action_bounds(cfg)
        for seat in session.seats:
            seat.runner = EnvRunner(cfg.env, cfg.action_repeat, cfg.num_envs, seat.cfg.seed, bounds)
            seat.eval_env = make_env(cfg.env, cfg.action_repeat, bounds=bounds)
        self.learner, self.buffer = seeds.stack(opened.learners), seeds.stack(opened.buffers)
        self.dataset = dataset_buffer(cfg, agent.obs_dim, agent.action_dim)  # () unless mixed
        self.noise = seeds.stack([s.loop.noise for s in session.seats])
        self.action = seeds.stack([s.loop.action for s in session.seats])
        self.metrics, self.norms = {}, None
        self.policy = jax.jit(lambda actor, o, norm: policy(agent, actor, o, norm))
        self.reset_fn = seeds.vmap(lambda s: agent.reset(s, cfg.reset_networks))
        self._start_episodes()

    def _norm(self, loop):
        return normalization(self.cfg, loop.obs_stats, loop.reward_scaler)

    def _start_episodes(self) -> None:
        """Reset the envs (a resume puts their saved state back, or restarts the
        episodes cut mid-way where the checkpoint has none) and act where they started."""
        cfg, seeds, seats = self.cfg, self.seeds, self.session.seats
        starts = []
        for k, seat in enumerate(seats):
            saved, path = None, seat.run_dir / rd.CHECKPOINT_FILE
            if not self.session.fresh and (env_info(path) or {}).get("kind") == "host":
                saved = load_env(path)  # not the device loop's (the same jax: task)
            seat.obs, fresh = seat.runner.start(seat.loop, saved)
            if saved is not None:
                seat.recent_returns = list(saved[1]["recent_returns"])
            if not self.session.fresh:
                if fresh:
                    restart_warning(seat.run_dir, cfg.env, len(fresh))
                cut = cut_episodes(seeds.take(self.buffer, k), fresh, cfg.num_envs)
                self.buffer = seeds.put(self.buffer, k, cut)
            if fresh:  # new episodes: count their observations, restart their returns G
                keep = np.ones(cfg.num_envs)
                keep[fresh] = 0.0
                scaler = seat.loop.reward_scaler
                seat.loop.reward_scaler = scaler.replace(returns=scaler.returns * keep)
                seat.loop.obs_stats = update_stats(seat.loop.obs_stats, seat.obs[fresh])
            starts.append(fresh)
        if not any(starts):
            return
        new_learner, new_action, new_noise = self.act_fn(
            self.learner,
            seeds.stack_host([s.obs.astype(np.float32) for s in seats]),
            seeds.stack_host([self._norm(s.loop) for s in seats]),
            self.noise,
            seeds.stack_host([_env_mask(cfg.num_envs, f) for f in starts]),
            explore=True,
            random=self.session.random_actions,
        )
        # Only seeds with fresh envs acted (as each would alone): keep the others' state.
        acted = np.array([bool(f) for f in starts])
        pick = lambda new, old: seeds.where(acted, new, old)
        self.learner = self.learner.replace(key=pick(new_learner.key, self.learner.key))
        self.noise = jax.tree.map(pick, new_noise, self.noise)
        self.action = np.array(self.action)
        for k, fresh in enumerate(starts):
            if fresh:
                seeds.take(self.action, k)[fresh] = np.asarray(seeds.take(new_action, k))[fresh]

    def advance(self, limit: int) -> int:
        """One agent step of every env of every seat, with the jitted insert-learn-act
        after it, or (``--overlap``) the updates dispatched before it."""
        learn = self.session.main.iteration + 1 >= self.session.warmup_iterations
        if self.overlap is None:
            transitions, next_obs, norms, masks = self._step_envs()
            self.learner, self.buffer, self.action, self.noise, m = self.step_fn(
                self.learner, self.buffer, transitions, next_obs, norms, self.noise, masks,
                self.dataset, learn=learn,
            )  # fmt: skip
            self.metrics = m or self.metrics
            return 1
        learn_fn, insert_fn = self.overlap
        # the updates see the replay before this step's transitions (and the statistics
        # before it), so the first learning step's see one vector step fewer than
        # --warmup-steps; with a warm-up of at most one vector step the replay is
        # empty at iteration 0 and learning starts at iteration 1
        if learn and self.session.main.iteration >= 1:
            norms = self.norms  # the statistics as the last env step left them
            if norms is None:  # the first step of this process (a start or a resume)
                norms = self.seeds.stack_host([self._norm(s.loop) for s in self.session.seats])
            self.learner, self.buffer, self.metrics = learn_fn(
                self.learner, self.buffer, norms, self.dataset
            )
        transitions, next_obs, norms, masks = self._step_envs()
        self.learner, self.buffer, self.action, self.noise = insert_fn(
            self.learner, self.buffer, transitions, next_obs, norms, self.noise, masks,
            random=not learn and self.cfg.init_from is None,
        )  # fmt: skip
        return 1

    def _step_envs(self):
        """Step every seat's envs with the actions chosen last; update the statistics and
        reset ended episodes. Returns the seed-stacked ``(transitions, next observations,
        normalizations, new-episode masks)`` of the jitted step."""
        cfg, seeds, seats = self.cfg, self.seeds, self.session.seats
        transitions, next_obs, norms, masks = [], [], [], []
        host_action = np.asarray(self.action)  # one device-to-host copy for every seed
        for k, seat in enumerate(seats):
            loop = seat.loop
            transition, nxt, reward, done = seat.runner.step(seat.obs, seeds.take(host_action, k))
            loop.reward_scaler = update_reward_scaler(
                loop.reward_scaler, reward, done, cfg.agent.discount
            )
            loop.obs_stats = update_stats(loop.obs_stats, nxt)
            loop.episode_return += reward
            seat.obs, ended, ended_returns = seat.runner.reset_ended(nxt, done, loop)
            if len(ended):
                seat.recent_returns += ended_returns
                loop.obs_stats = update_stats(loop.obs_stats, seat.obs[ended])
            transitions.append(transition)
            next_obs.append(seat.obs.astype(np.float32))
            norms.append(self._norm(loop))
            masks.append(_env_mask(cfg.num_envs, ended))  # new episodes: fresh noise
        self.norms = seeds.stack_host(norms)
        return (
            seeds.stack_host(transitions),
            seeds.stack_host(next_obs),
            self.norms,
            seeds.stack_host(masks),
        )

    def evaluate(self) -> list[EvalResult]:
        results = []
        for k, seat in enumerate(self.session.seats):
            norm = self._norm(seat.loop)
            actor = self.seeds.take(self.learner.actor, k)
            results.append(
                evaluate(
                    seat.eval_env,
                    lambda o, actor=actor, norm=norm: self.policy(actor, o, norm),
                    self.cfg.eval_episodes,
                    seat.cfg.seed,
                    seat.loop.eval_round,
                )
            )
        return results

    def snapshot(self, k: int):
        self.session.seats[k].loop.noise = self.seeds.take(self.noise, k)
        take = lambda tree: self.seeds.take(tree, k)
        return take(self.learner), take(self.buffer), np.asarray(take(self.action))

    def env_snapshot(self, k: int):
        seat = self.session.seats[k]
        return seat.runner.snapshot(seat.obs, seat.recent_returns)

    def reset_networks(self) -> None:
        self.learner = self.reset_fn(self.learner)

    def probe_inputs(self) -> tuple:
        return self.learner, self.buffer, self.norms
