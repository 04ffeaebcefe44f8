"""The population checkpoint (``RUN/checkpoint.npz``) and the elite's run directory ``RUN/best``.

The checkpoint is written between generations, atomically (``train/checkpoint.py``):
every member's learner state (its shapes are its own architecture's), the
members' ids, parents, configs and fitness histories, the shared replay buffer
and statistics, each slot's episode counters and exploration noise, the
selection generator's state and the counters. Loading rebuilds each member's
template from its config, so a mutated architecture reads back exactly.
"""

from __future__ import annotations

import dataclasses
import os
import shutil
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np

from simbarl.config import TrainConfig, config_from_dict, config_to_dict
from simbarl.evolve.loop import Population
from simbarl.evolve.population import Member
from simbarl.files import atomic_open
from simbarl.replay import ReplayBuffer, init_replay
from simbarl.runs import checkpoint
from simbarl.runs import run_dir as rd
from simbarl.runs.loop_state import LoopState, save_loop

FORMAT = "simbarl-evolve-1"
BEST_DIR = "best"
BEST_CONFIG = "best_config.json"


def _slot_arrays(loop: LoopState) -> dict:
    return {
        "episode_index": loop.episode_index,
        "at_episode_start": loop.at_episode_start,
        "episode_return": loop.episode_return,
        "noise": loop.noise,
    }


def save_population(path: Path, pop: Population, rng: np.random.Generator) -> None:
    """Atomically write the whole population (the replay up to its filled size)."""
    buffer = pop.buffer
    size = int(buffer.size)
    trees = {f"member{i}": m.state for i, m in enumerate(pop.members)}
    trees.update({f"slot{i}": _slot_arrays(s.loop) for i, s in enumerate(pop.slots)})
    trees["replay"] = jax.tree.map(lambda x: x[:size].astype(jnp.float32), buffer.data)
    if buffer.prioritized:
        trees["priorities"] = buffer.priorities
    trees["stats"] = {"obs_stats": pop.obs_stats, "reward_scaler": pop.reward_scaler}
    members = [
        {
            "id": m.id,
            "parent": m.parent,
            "mutation": m.mutation,
            "fitness": m.fitness,
            "config": config_to_dict(m.cfg),
        }
        for m in pop.members
    ]
    meta = {
        "format": FORMAT,
        "generation": pop.generation,
        "iteration": pop.iteration,
        "next_id": pop.next_id,
        "env_step": total_env_steps(pop),
        "members": members,
        "rng": rng.bit_generator.state,
        "replay_size": size,
        "replay_pos": int(buffer.pos),
        "replay_capacity": buffer.capacity,
    }
    checkpoint.save(path, trees, meta)


def total_env_steps(pop: Population) -> int:
    return pop.iteration * pop.envs * pop.cfg.action_repeat


def read_population_meta(path: Path) -> dict:
    meta = checkpoint.read_meta(path)
    if meta.get("format") != FORMAT:
        raise ValueError(f"{path} is not a simbarl evolve checkpoint")
    return meta


def load_population(path: Path, pop: Population) -> np.random.Generator:
    """Fill ``pop`` (built fresh, with the checkpoint's replay capacity) from ``path``;
    returns the selection generator as it was."""
    meta = read_population_meta(path)
    cfgs = [config_from_dict(m["config"]) for m in meta["members"]]
    if len(cfgs) != len(pop.slots):
        raise ValueError(f"{path} holds {len(cfgs)} members, the run has {len(pop.slots)}")
    shapes = lambda agent: jax.eval_shape(agent.init, jax.random.PRNGKey(0))
    zeros = lambda s: np.zeros(s.shape, s.dtype)
    templates = {
        f"member{i}": jax.tree.map(zeros, shapes(pop.programs(c).agent)) for i, c in enumerate(cfgs)
    }
    templates.update({f"slot{i}": _slot_arrays(s.loop) for i, s in enumerate(pop.slots)})
    templates["replay"] = jax.tree.map(
        lambda d: np.zeros((0, *d.shape[1:]), np.float32), pop.buffer.data
    )
    if pop.buffer.prioritized:
        templates["priorities"] = pop.buffer.priorities
    templates["stats"] = {"obs_stats": pop.obs_stats, "reward_scaler": pop.reward_scaler}
    trees, meta = checkpoint.load(path, templates, ragged=("replay",))
    pop.members = [
        Member(
            id=m["id"],
            cfg=cfg,
            state=jax.tree.map(jnp.asarray, trees[f"member{i}"]),
            parent=m["parent"],
            mutation=m["mutation"],
            fitness=[float(f) for f in m["fitness"]],
        )
        for i, (m, cfg) in enumerate(zip(meta["members"], cfgs, strict=True))
    ]
    for i, slot in enumerate(pop.slots):
        arrays = trees[f"slot{i}"]
        slot.loop.episode_index = arrays["episode_index"]
        slot.loop.at_episode_start = arrays["at_episode_start"]
        slot.loop.episode_return = arrays["episode_return"]
        slot.loop.noise = jax.tree.map(jnp.asarray, arrays["noise"])
    pop.buffer = _restore_replay(pop.buffer, trees, meta, path)
    pop.obs_stats = trees["stats"]["obs_stats"]
    pop.reward_scaler = trees["stats"]["reward_scaler"]
    pop.generation, pop.iteration = meta["generation"], meta["iteration"]
    pop.next_id = meta["next_id"]
    rng = np.random.default_rng()
    rng.bit_generator.state = meta["rng"]
    return rng


def _restore_replay(buffer: ReplayBuffer, trees: dict, meta: dict, path: Path) -> ReplayBuffer:
    size = meta["replay_size"]
    if size > buffer.capacity:
        raise ValueError(f"{path} holds {size} transitions; the buffer fits {buffer.capacity}")
    data = jax.tree.map(
        lambda d, x: d.at[:size].set(jnp.asarray(x, d.dtype)), buffer.data, trees["replay"]
    )
    return buffer.replace(
        data=data,
        pos=jnp.asarray(meta["replay_pos"], jnp.int32),
        size=jnp.asarray(size, jnp.int32),
        priorities=jax.tree.map(jnp.asarray, trees.get("priorities", ())),
    )


def best_config(cfg: TrainConfig) -> dict:
    """The elite's config as a file for ``simbarl train --config`` and ``simbarl sweep``."""
    d = config_to_dict(cfg)
    d["run_dir"] = None
    return d


def write_best(run_dir: Path, pop: Population, index: int, env_step: int) -> Path:
    """``RUN/best``: member ``index`` as a normal run directory (its config and a
    checkpoint of its learner and the population's statistics, with an empty replay),
    which ``simbarl eval``, ``simbarl collect`` and ``simbarl train --init-from`` read;
    and ``RUN/best_config.json``. Written beside and then renamed over the last one."""
    import json

    member, slot = pop.members[index], pop.slots[index]
    best = run_dir / BEST_DIR
    tmp, old = run_dir / f".{BEST_DIR}.tmp", run_dir / f".{BEST_DIR}.old"
    for leftover in (tmp, old):  # of a write killed half-way
        shutil.rmtree(leftover, ignore_errors=True)
    tmp.mkdir()
    cfg = dataclasses.replace(member.cfg, run_dir=str(best))
    rd.write_config(tmp, cfg)
    n, obs_dim = cfg.num_envs, pop.programs.obs_dim
    loop = LoopState.fresh(n, obs_dim, pop.programs.action_dim)
    loop.iteration = env_step // (n * cfg.action_repeat)
    loop.env_step, loop.agent_step = env_step, loop.iteration * n
    loop.eval_round = pop.generation
    loop.obs_stats = pop.obs_stats
    returns = pop.reward_scaler.returns[index * n : (index + 1) * n]
    loop.reward_scaler = pop.reward_scaler.replace(returns=returns)
    loop.noise = slot.loop.noise
    empty = init_replay(1, obs_dim, pop.programs.action_dim)
    save_loop(tmp / rd.CHECKPOINT_FILE, member.state, empty, loop, loop.action)
    if best.exists():
        os.replace(best, old)
    os.replace(tmp, best)
    shutil.rmtree(old, ignore_errors=True)
    with atomic_open(run_dir / BEST_CONFIG) as f:
        f.write(json.dumps(best_config(member.cfg), indent=2) + "\n")
    return best
