"""Algorithms as losses and update orders over shared pieces."""

from simbarl.agents.actor_critic import ActorCritic, Batch, LearnerState
from simbarl.agents.flashsac import FlashSAC
from simbarl.agents.sac import SAC
from simbarl.agents.td3 import DDPG, TD3
from simbarl.agents.tqc import TQC

ALGORITHMS: dict[str, type[ActorCritic]] = {
    "sac": SAC,
    "td3": TD3,
    "ddpg": DDPG,
    "tqc": TQC,
    "flashsac": FlashSAC,
}

__all__ = [
    "ALGORITHMS",
    "ActorCritic",
    "Batch",
    "DDPG",
    "FlashSAC",
    "LearnerState",
    "SAC",
    "TD3",
    "TQC",
]
