"""The host training loop: Gymnasium envs on the CPU, one jitted call per agent step.

Per agent step: step every training env; store the transition with its true
final observation; update the reward scaler and RSNorm statistics (float64,
host); reset finished envs (episode ``k`` of env ``i`` is reset with a seed
derived from ``(seed, i, k)``, so episodes are reproducible across resumes);
then one jitted call inserts, runs ``utd`` updates and picks the next action.
"""

from __future__ import annotations

import dataclasses
import time
from pathlib import Path

import jax
import numpy as np

from simbarl.config import TrainConfig
from simbarl.envs.registry import make_env
from simbarl.normalizers import update_reward_scaler, update_stats
from simbarl.replay import init_replay
from simbarl.replay.memory import check_replay_fits, replay_bytes
from simbarl.runs import run_dir as rd
from simbarl.runs.checkpoint import read_meta
from simbarl.runs.finite import check_finite
from simbarl.runs.learner import build_agent, iterations_for, normalization, warmup_iterations
from simbarl.runs.lock import RunLocks
from simbarl.runs.loop_state import cut_episodes, load_loop, save_loop
from simbarl.runs.metrics import Logger
from simbarl.train.env_runner import EnvRunner
from simbarl.train.evaluate import evaluate
from simbarl.train.probe import make_probe_fn
from simbarl.train.progress import Progress
from simbarl.train.results import RunResult, gather_results, log_dynamics, log_train
from simbarl.train.seeds import OnEval, Seat, Seeds, seat_configs, target_reached
from simbarl.train.step import make_step_fns
from simbarl.train.stop import StopFlag
from simbarl.train.wandb_sink import wandb_sink
from simbarl.train.warm_start import dataset_buffer, start


def train_host(
    cfg: TrainConfig, resume: str | Path | None = None, on_eval: OnEval | None = None
) -> RunResult:
    """Train online on Gymnasium envs. ``resume``: a run directory to continue.

    With ``cfg.vmap_seeds = N > 1`` the run directory holds ``seed<k>`` runs,
    trained together by one vmapped learner (``train/seeds.py``). The run
    directories are locked (``lock.py``) until this returns.
    """
    with RunLocks() as locks:
        return _train_host(cfg, resume, locks, on_eval)


def _train_host(cfg: TrainConfig, resume, locks: RunLocks, on_eval: OnEval | None) -> RunResult:
    cfg, task = rd.resolve(cfg)
    if resume is not None:
        group_dir, cfg = rd.reopen(resume, cfg, locks.hold)
    else:
        group_dir = rd.create(cfg, locks.hold) if cfg.vmap_seeds > 1 else None
    seeds = Seeds(cfg.vmap_seeds)
    norm_of = lambda loop: normalization(cfg, loop.obs_stats, loop.reward_scaler)
    bounds = rd.action_bounds(cfg)
    agent = build_agent(cfg, task.obs_dim, task.action_dim)
    step_fn, act_fn = make_step_fns(agent, cfg)
    probe_fn = make_probe_fn(agent, cfg, cfg.vmap_seeds)  # None without --analyze-every
    iterations = iterations_for(cfg)
    capacity = min(cfg.buffer_size, iterations * cfg.num_envs)
    seat_cfgs = seat_configs(cfg, group_dir or Path(cfg.run_dir or rd.default_run_dir(cfg)))
    if resume is not None:  # keep the ring's geometry even if --steps changed
        first = Path(seat_cfgs[0].run_dir) / rd.CHECKPOINT_FILE
        capacity = read_meta(first).get("replay_capacity", capacity)
    r = cfg.replay
    nbytes = replay_bytes(capacity, task.obs_dim, task.action_dim, r.obs_dtype, r.prioritized)
    check_replay_fits(nbytes, copies=cfg.vmap_seeds)

    seats, learners, buffers = [], [], []
    for scfg in seat_cfgs:
        learner, loop = start(agent, cfg, scfg.seed, warm=resume is None)
        buffer = init_replay(
            capacity, task.obs_dim, task.action_dim, cfg.replay.prioritized, cfg.replay.obs_dtype
        )
        if resume is not None:
            run_dir = rd.reopen_seat(group_dir, scfg, cfg.vmap_seeds, locks.hold)
            learner, buffer, loop = load_loop(run_dir / rd.CHECKPOINT_FILE, learner, buffer, loop)
        else:
            run_dir = rd.create(scfg, locks.hold)
        runner = EnvRunner(cfg.env, cfg.action_repeat, cfg.num_envs, scfg.seed, bounds)
        eval_env = make_env(cfg.env, cfg.action_repeat, bounds=bounds)
        seats.append(
            Seat(dataclasses.replace(scfg, run_dir=str(run_dir)), run_dir, runner, eval_env, loop)
        )
        learners.append(learner)
        buffers.append(buffer)
    learner, buffer = seeds.stack(learners), seeds.stack(buffers)
    dataset = dataset_buffer(cfg, task.obs_dim, task.action_dim)  # () without --init-data-ratio
    noise = seeds.stack([s.loop.noise for s in seats])
    main = seats[0].loop  # counters are the same for every seed
    warmup_iters = warmup_iterations(cfg)

    starts = []
    for seat in seats:
        seat.logger = Logger(
            seat.run_dir,
            cfg.tensorboard,
            seat.loop.env_step if resume is not None else None,
            wandb_sink(seat.cfg, seat.run_dir, group_dir),
        )
        seat.obs, fresh = seat.runner.start(seat.loop)
        if resume is not None:
            k = len(starts)
            cut = cut_episodes(seeds.take(buffer, k), fresh, cfg.num_envs)
            buffer = seeds.put(buffer, k, cut)
        if fresh:  # new episodes: count their observations, restart their returns G
            keep = np.ones(cfg.num_envs)
            keep[fresh] = 0.0
            scaler = seat.loop.reward_scaler
            seat.loop.reward_scaler = scaler.replace(returns=scaler.returns * keep)
            seat.loop.obs_stats = update_stats(seat.loop.obs_stats, seat.obs[fresh])
        starts.append(fresh)
    action = seeds.stack([s.loop.action for s in seats])
    if any(starts):
        new_learner, new_action, new_noise = act_fn(
            learner,
            seeds.stack_host([s.obs.astype(np.float32) for s in seats]),
            seeds.stack_host([norm_of(s.loop) for s in seats]),
            noise,
            seeds.stack_host([_env_mask(cfg.num_envs, f) for f in starts]),
            explore=True,
            random=main.iteration < warmup_iters and cfg.init_from is None,
        )
        # Only seeds with fresh envs acted (as each would alone): keep the others' state.
        acted = np.array([bool(f) for f in starts])
        pick = lambda new, old: seeds.where(acted, new, old)
        learner = learner.replace(key=pick(new_learner.key, learner.key))
        noise = jax.tree.map(pick, new_noise, noise)
        action = np.array(action)
        for k, fresh in enumerate(starts):
            if fresh:
                seeds.take(action, k)[fresh] = np.asarray(seeds.take(new_action, k))[fresh]

    progress = Progress(cfg.steps, main.env_step, enabled=cfg.progress)
    policy = jax.jit(lambda actor, o, norm: agent.policy(actor, (o - norm.obs_mean) / norm.obs_std))
    reset_fn = seeds.vmap(lambda s: agent.reset(s, cfg.reset_networks))
    updates_now = lambda: int(np.asarray(learner.step).reshape(-1)[0])
    for seat in seats:
        seat.last_log = (time.time(), main.env_step, updates_now())
    interrupted, start_step, metrics = False, main.env_step, {}
    per_iter = cfg.num_envs * cfg.action_repeat
    crossed = lambda every: main.env_step // every > (main.env_step - per_iter) // every
    crossed_step = lambda step: main.env_step - per_iter < step <= main.env_step

    def save(seat: Seat, k: int) -> None:
        check_finite(seeds.take(learner, k), seeds.take(metrics, k), cfg, seat.run_dir)
        seat.loop.noise = seeds.take(noise, k)
        save_loop(
            seat.run_dir / rd.CHECKPOINT_FILE,
            seeds.take(learner, k),
            seeds.take(buffer, k),
            seat.loop,
            np.asarray(seeds.take(action, k)),
        )

    def run_eval_and_checkpoint() -> bool:
        """Evaluate, log and checkpoint every seed; True once --stop-at-return is reached."""
        for k, seat in enumerate(seats):
            norm = norm_of(seat.loop)
            actor = seeds.take(learner.actor, k)
            result = evaluate(
                seat.eval_env,
                lambda o, actor=actor, norm=norm: policy(actor, o, norm),
                cfg.eval_episodes,
                seat.cfg.seed,
                seat.loop.eval_round,
            )
            seat.record_eval(result)
            if cfg.checkpoint:
                save(seat, k)
        return target_reached(seats, cfg, progress, on_eval)

    if resume is None and cfg.init_from is not None:
        run_eval_and_checkpoint()  # env step 0: the loaded policy, before any online data
    with StopFlag() as stop:
        while main.iteration < iterations:
            transitions, next_obs, norms, masks = [], [], [], []
            host_action = np.asarray(action)  # one device-to-host copy for every seed
            for k, seat in enumerate(seats):
                loop = seat.loop
                transition, nxt, reward, done = seat.runner.step(
                    seat.obs, seeds.take(host_action, k)
                )
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
                norms.append(norm_of(loop))
                masks.append(_env_mask(cfg.num_envs, ended))  # new episodes: fresh noise
            learner, buffer, action, noise, m = step_fn(
                learner,
                buffer,
                seeds.stack_host(transitions),
                seeds.stack_host(next_obs),
                seeds.stack_host(norms),
                noise,
                seeds.stack_host(masks),
                dataset,
                learn=main.iteration + 1 >= warmup_iters,
            )
            for seat in seats:
                seat.loop.iteration += 1
                seat.loop.agent_step += cfg.num_envs
                seat.loop.env_step += per_iter
            progress.advance(per_iter)

            resets = [s for s in cfg.reset_at if crossed_step(s)]
            if resets or (cfg.reset_every and crossed(cfg.reset_every)):
                learner = reset_fn(learner)
                for seat in seats:
                    seat.logger.log({"env_step": main.env_step, "train/reset": 1.0})
            metrics = m or metrics
            if crossed(cfg.log_every):
                for k, seat in enumerate(seats):
                    check_finite(seeds.take(learner, k), seeds.take(metrics, k), cfg, seat.run_dir)
                    seat.last_log = log_train(seat, progress, seeds.take(metrics, k), updates_now())
                    seat.recent_returns = []
            if probe_fn and crossed(cfg.analyze_every) and main.iteration >= warmup_iters:
                log_dynamics(seats, seeds, probe_fn, learner, buffer, seeds.stack_host(norms))
            final = main.iteration >= iterations
            if (crossed(cfg.eval_every) or final) and run_eval_and_checkpoint():
                break  # --stop-at-return reached; the evaluation checkpointed
            paused = cfg.pause_at is not None and start_step < cfg.pause_at <= main.env_step
            if (stop.requested or paused) and not final:
                if cfg.checkpoint:
                    for k, seat in enumerate(seats):
                        save(seat, k)
                interrupted = True
                break
    progress.close()
    return gather_results(seats, seeds, group_dir, main.env_step, interrupted)


def _env_mask(num_envs: int, envs) -> np.ndarray:
    """``(num_envs,)`` float32, 1.0 at ``envs``."""
    mask = np.zeros(num_envs, np.float32)
    mask[np.asarray(envs, int)] = 1.0
    return mask
