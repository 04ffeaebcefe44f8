"""The official FlashSAC code (PyTorch, ``flash_rl``), driven as its ``train.py`` does:
the steps that ``flashsac_throughput.py`` (its official side) and
``flashsac_learning.py`` share. Each script keeps its own timing, evaluation and
update counting.

In order, a script:

1. calls :func:`set_threads_env` before anything imports torch (train.py sets these
   environment variables at its top);
2. composes the config with :func:`compose`: the official ``configs/``
   (``flashSAC_base.yaml``, ``agent/flashSAC.yaml``, ``env/mujoco.yaml``), then the
   task and seed, then its overrides (:data:`RUN_MUJOCO`, ``scripts/run_mujoco.sh``'s,
   followed by its own);
3. seeds and builds the envs and the agent with :func:`build`;
4. per interaction step, calls :func:`interact` (act, env step, the final-observation
   fix-up, ``agent.process_transition``), then updates the agent as it counts them.

Nothing here imports torch or ``flash_rl`` at import time: this module runs in a
torch virtual environment without simbarl, and the tests import its callers without
torch.
"""

from __future__ import annotations

import os
from pathlib import Path

BATCH = 512  # run_mujoco.sh's agent.sample_batch_size

# scripts/run_mujoco.sh's overrides, less those each script sets itself: seed and env
# name (compose's arguments), the budget (num_env_steps) and the warm-up
# (agent.buffer_min_length); its evaluation and recording episodes are unused here
RUN_MUJOCO = [
    "num_train_envs=1",
    "num_eval_envs=1",
    "num_record_envs=1",
    "agent.buffer_max_length=1_000_000",
    "agent.buffer_device_type=cpu",
    f"agent.sample_batch_size={BATCH}",
    "agent.use_amp=false",
    "updates_per_interaction_step=1",
    "agent.asymmetric_observation=false",
    "gamma=0.99",
    "n_step=1",
]


def set_threads_env(threads: int = 2) -> None:
    """The environment variables train.py sets before importing torch, with ``threads``
    OMP/MKL/NumExpr threads (train.py's 2). Call before torch is imported."""
    os.environ["OMP_NUM_THREADS"] = str(threads)
    os.environ["MKL_NUM_THREADS"] = str(threads)
    os.environ["NUMEXPR_NUM_THREADS"] = str(threads)
    os.environ["JAX_DEFAULT_MATMUL_PRECISION"] = "highest"
    os.environ["XLA_PYTHON_CLIENT_PREALLOCATE"] = "false"
    os.environ["XLA_FLAGS"] = "--xla_cpu_multi_thread_eigen=false intra_op_parallelism_threads=1"


def compose(task: str, seed: int, overrides: list[str]):
    """The official config, resolved: ``configs/flashSAC_base.yaml`` with
    ``agent/flashSAC.yaml`` and ``env/mujoco.yaml`` in place of its ``defaults``, then
    the dotted ``overrides`` ``seed=<seed>``, ``env.env_name=<task>`` and
    ``overrides``, in that order (as train.py's ``--overrides``)."""
    import flash_rl
    from omegaconf import OmegaConf

    root = Path(flash_rl.__file__).resolve().parents[1] / "configs"
    if not OmegaConf.has_resolver("eval"):
        OmegaConf.register_new_resolver("eval", lambda s: eval(s))
    base = OmegaConf.load(root / "flashSAC_base.yaml")
    base.pop("defaults")
    cfg = OmegaConf.merge(
        base,
        {"agent": OmegaConf.load(root / "agent" / "flashSAC.yaml")},
        {"env": OmegaConf.load(root / "env" / "mujoco.yaml")},
    )
    dotlist = [f"seed={seed}", f"env.env_name={task}", *overrides]
    cfg = OmegaConf.merge(cfg, OmegaConf.from_dotlist(dotlist))
    OmegaConf.resolve(cfg)
    return cfg


def build(cfg):
    """Seed ``random``, NumPy and torch with ``cfg.seed``, create the envs
    (``flash_rl.envs.create_envs``; the recording env is closed, unused) and the agent
    (``flash_rl.agents.create_agent``) as train.py does. Returns
    ``(agent, train_env, eval_env)``; the caller closes the two envs."""
    import random

    import numpy as np
    import torch
    from flash_rl.agents import create_agent
    from flash_rl.envs import create_envs

    random.seed(cfg.seed)
    np.random.seed(cfg.seed)
    torch.manual_seed(cfg.seed)
    train_env, eval_env, record_env = create_envs(**cfg.env)
    record_env.close()
    _, env_info = train_env.reset()
    agent = create_agent(
        observation_space=train_env.observation_space,
        action_space=train_env.action_space,
        env_info=env_info,
        cfg=cfg.agent,
    )
    return agent, train_env, eval_env


def interact(agent, train_env, cfg, observations, transition, interaction_step: int):
    """One interaction step of train.py's loop, without the update: act
    (``agent.sample_actions`` once the agent can start training and a previous
    transition exists, else a random action), ``train_env.step``, store the transition
    with each finished episode's final observation as its next observation
    (``agent.process_transition``). Start with ``train_env.reset()``'s observations and
    ``transition=None``. Returns the next ``(observations, transition)``; the
    transition's ``next_observation`` is then the env's (reset) one, as train.py
    passes it to the next ``sample_actions``."""
    import numpy as np

    if agent.can_start_training() and transition is not None:
        actions = agent.sample_actions(interaction_step, prev_transition=transition, training=True)
    else:
        actions = train_env.action_space.sample()
    actions = np.array(actions)
    next_observations, rewards, terminateds, truncateds, env_infos = train_env.step(actions)
    next_buffer_observations = next_observations.copy()
    for env_idx in range(cfg.num_train_envs):
        if terminateds[env_idx] or truncateds[env_idx]:
            next_buffer_observations[env_idx] = env_infos["final_obs"][env_idx]
    transition = {
        "observation": observations,
        "action": actions,
        "reward": rewards,
        "terminated": terminateds,
        "truncated": truncateds,
        "next_observation": next_buffer_observations,
    }
    agent.process_transition(transition)
    transition["next_observation"] = next_observations
    return next_observations, transition
