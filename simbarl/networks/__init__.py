"""One network vocabulary: encoders (SimbaV2, SimBa, MLP) and heads."""

from simbarl.networks.heads import Critic, CriticEnsemble, LinearHead, TanhGaussianActor
from simbarl.networks.simbav2 import HyperDense, Scaler, SimbaV2Encoder, l2n

__all__ = [
    "Critic",
    "CriticEnsemble",
    "HyperDense",
    "LinearHead",
    "Scaler",
    "SimbaV2Encoder",
    "TanhGaussianActor",
    "l2n",
]
