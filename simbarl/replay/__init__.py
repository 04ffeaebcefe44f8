"""Replay buffers."""

from simbarl.replay.buffer import ReplayBuffer, Transition, add, init_replay, sample

__all__ = ["ReplayBuffer", "Transition", "add", "init_replay", "sample"]
