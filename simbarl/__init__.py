"""simbarl: scalable off-policy deep RL for continuous control, in JAX.

Python API::

    import simbarl
    cfg = simbarl.preset("simbav2-small")              # or simbarl.TrainConfig(...)
    result = simbarl.train(cfg)                         # online SimbaV2-SAC
    td3 = dataclasses.replace(cfg, algo="td3",          # or ddpg / tqc, any encoder
                              replay=simbarl.ReplayConfig(n_step=3))
    agent = simbarl.load_agent(result.run_dir)
    action = agent.act(obs)
    policy = simbarl.load_policy("policy.npz")        # simbarl export RUN --policy policy.npz
    action = policy.act(obs)                           # in the task's units
"""

from simbarl.config import (
    PRESETS,
    AgentConfig,
    NetworkConfig,
    ReplayConfig,
    TrainConfig,
    preset,
)
from simbarl.runs.load import Agent, load_agent
from simbarl.runs.policy_file import Policy, load_policy
from simbarl.train.callbacks import Callback
from simbarl.train.results import RunResult
from simbarl.train.run import train

__all__ = [
    "PRESETS",
    "Agent",
    "AgentConfig",
    "Callback",
    "NetworkConfig",
    "Policy",
    "ReplayConfig",
    "RunResult",
    "TrainConfig",
    "load_agent",
    "load_policy",
    "preset",
    "train",
]
__version__ = "0.1.0"
