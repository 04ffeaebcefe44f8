"""The tiny training configuration the end-to-end tests share."""

import dataclasses

from simbarl.config import AgentConfig, NetworkConfig, TrainConfig, preset

TINY_AGENT = AgentConfig(
    actor=NetworkConfig("simbav2", 16, 1), critic=NetworkConfig("simbav2", 32, 1)
)

# A little wider, with a constant learning rate: what the "it learns" tests train.
LEARNING_AGENT = AgentConfig(
    actor=NetworkConfig("simbav2", 32, 1),
    critic=NetworkConfig("simbav2", 64, 1),
    learning_rate=3e-4,
    learning_rate_end=3e-4,
)

# The flashsac preset's learner at tiny sizes (its held noise and return statistics
# are loop state, so the loop tests train it too).
TINY_FLASHSAC_AGENT = dataclasses.replace(
    preset("flashsac").agent,
    actor=NetworkConfig("flashsac", 16, 1),
    critic=NetworkConfig("flashsac", 32, 1),
)


def tiny(tmp_path, name="run", **kw) -> TrainConfig:
    base = dict(
        env="dmc:cartpole-swingup",
        steps=2000,
        batch_size=32,
        updates_per_step=1,
        warmup_steps=200,
        eval_every=1000,
        eval_episodes=1,
        log_every=500,
        agent=TINY_AGENT,
        progress=False,
        tensorboard=False,
        run_dir=str(tmp_path / name),
    )
    base.update(kw)
    return TrainConfig(**base)
