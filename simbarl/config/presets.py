"""The named presets: starting points a run is filled from (``--preset NAME``)."""

from __future__ import annotations

import dataclasses
import math
from typing import Any

from simbarl.config.schema import AgentConfig, NetworkConfig, TrainConfig


def _small(cfg: TrainConfig) -> TrainConfig:
    agent = dataclasses.replace(
        cfg.agent,
        actor=NetworkConfig("simbav2", 64, 1),
        critic=NetworkConfig("simbav2", 128, 2),
    )
    return dataclasses.replace(cfg, agent=agent)


def _simba(cfg: TrainConfig) -> TrainConfig:
    agent = AgentConfig(
        actor=NetworkConfig("simba", 128, 1),
        critic=NetworkConfig("simba", 512, 2),
        critic_type="scalar",
        reward_scaling=False,
        weight_projection=False,
        weight_decay=1e-2,
        learning_rate_end=1e-4,
    )
    return dataclasses.replace(cfg, agent=agent)


def _sac_mlp(cfg: TrainConfig) -> TrainConfig:
    agent = AgentConfig(
        actor=NetworkConfig("mlp", 256, 2),
        critic=NetworkConfig("mlp", 256, 2),
        critic_type="scalar",
        reward_scaling=False,
        weight_projection=False,
        learning_rate=3e-4,
        learning_rate_end=3e-4,
        temperature_init=1.0,
        target_entropy_scale=1.0,
        clipped_double_q=True,
        log_std_min=-5.0,
    )
    return dataclasses.replace(cfg, agent=agent, updates_per_step=1)


def _parallel(cfg: TrainConfig) -> TrainConfig:
    """Massively parallel device-loop recipe (FastTD3/FastSAC, Raffin 2025), per value:

    * num_envs 1024: many simulators per step keep the accelerator busy.
    * batch_size 8192, updates_per_step 2: large batches and few gradient steps per
      env step (2 updates per 1024 transitions), so the data, not the update count,
      grows with the envs.
    * discount 0.97: shorter horizons learn faster from massive on-policy-ish data.
    * tau 0.05: with few updates per env step, a faster target keeps up.
    * learning_rate 3e-4 -> 1.5e-4: fewer, larger updates take larger steps.
    * warmup_steps 10 * num_envs: ten random steps per env fill the buffer.
    * buffer_size 1024 transitions per env (1,048,576).
    * evaluation every 500k steps over 128 parallel episodes on the device.
    Action bounds: narrow them with --action-low/--action-high (or
    --action-bounds-from) when a robot's declared range is far wider than useful.
    """
    agent = dataclasses.replace(
        cfg.agent, discount=0.97, tau=0.05, learning_rate=3e-4, learning_rate_end=1.5e-4
    )
    return dataclasses.replace(
        cfg,
        agent=agent,
        env="mjx:CartpoleBalance",
        steps=10_000_000,
        num_envs=1024,
        batch_size=8192,
        updates_per_step=2,
        warmup_steps=10 * 1024,
        buffer_size=1024 * 1024,
        eval_every=500_000,
        eval_episodes=128,
        log_every=100_000,
    )


def _simbav2_parallel(cfg: TrainConfig) -> TrainConfig:
    """SAC with SimbaV2 networks; temperature 1e-3 (a small initial entropy bonus:
    the temperature acts as an inverse reward scale and parallel data needs less
    exploration from it)."""
    cfg = _parallel(cfg)
    return dataclasses.replace(cfg, agent=dataclasses.replace(cfg.agent, temperature_init=1e-3))


def _td3_parallel(cfg: TrainConfig) -> TrainConfig:
    """TD3 with SimbaV2 networks and FastTD3's exploration: each env draws its noise
    std from [0.001, 0.4] at every episode start; target smoothing std 0.001."""
    cfg = _parallel(cfg)
    agent = dataclasses.replace(
        cfg.agent, exploration_noise=0.001, exploration_noise_max=0.4, policy_noise=0.001
    )
    return dataclasses.replace(cfg, algo="td3", agent=agent)


def gaussian_entropy_scale(std: float) -> float:
    """``s`` such that ``-s |A|`` is the entropy of a Gaussian of ``std`` per action
    dimension, ``|A|/2 ln(2 pi e std^2)``: FlashSAC's target entropy (std 0.15)."""
    return -0.5 * math.log(2 * math.pi * math.e * std**2)


def _flashsac(cfg: TrainConfig) -> TrainConfig:
    """FlashSAC's official CPU-simulator settings (configs/agent/flashSAC.yaml and the
    CPU scripts scripts/run_{mujoco,dmc,humanoid_bench,myosuite}.sh): actor 2 blocks x
    128, critics 2 blocks x 256 (expansion 4), Adam 3e-4 cosine to 1.5e-4 over the run,
    tau 0.01, actor and temperature every 2nd update, alpha 0.01 toward the entropy of
    std 0.15, 101 bins on [-5, 5], rewards scaled to |G| <= 5, no observation
    normalization (the first BatchNorm does it); one env, batch 512, UTD 1, a 1M
    buffer with 10,000 random steps before learning, no action repeat on any suite,
    1M steps, evaluation every 100,000 steps over 50 episodes. The discount is the
    suite's (``SUITE_VALUES``): 0.99, MyoSuite 0.95."""
    agent = AgentConfig(
        actor=NetworkConfig("flashsac", 128, 2),
        critic=NetworkConfig("flashsac", 256, 2),
        clipped_double_q=True,
        discount=None,  # by suite: SUITE_VALUES
        tau=0.01,
        learning_rate=3e-4,
        learning_rate_end=1.5e-4,
        temperature_init=0.01,
        target_entropy_scale=gaussian_entropy_scale(0.15),
        observation_norm=False,
        policy_delay=2,
    )
    return dataclasses.replace(
        cfg,
        algo="flashsac",
        agent=agent,
        steps=PUBLISHED_STEPS,
        eval_every=100_000,
        eval_episodes=50,
        num_envs=1,
        batch_size=512,
        updates_per_step=1,
        buffer_size=1_000_000,
        warmup_steps=10_000,
        action_repeat=1,
    )


def _flashsac_small(cfg: TrainConfig) -> TrainConfig:
    """FlashSAC at a CPU-friendly size for learning comparisons beside simbav2-small:
    critic width 128 and actor width 64 (two blocks each, as the official depth), the
    official training settings otherwise, and the quick start's budget (30,000 steps,
    evaluation every 10,000 over 10 episodes)."""
    cfg = _flashsac(cfg)
    agent = dataclasses.replace(
        cfg.agent,
        actor=NetworkConfig("flashsac", 64, 2),
        critic=NetworkConfig("flashsac", 128, 2),
    )
    base = TrainConfig()  # steps None: the suite's quick budget
    return dataclasses.replace(
        cfg, agent=agent, steps=base.steps, eval_every=base.eval_every, eval_episodes=10
    )


FLASHSAC_GPU_VECTOR_STEPS = 48_829  # scripts/run_mujoco_playground.sh: 50,000,896 env steps


def _flashsac_parallel(cfg: TrainConfig) -> TrainConfig:
    """FlashSAC's official GPU-simulator settings (scripts/run_mujoco_playground.sh) for
    the device loop's ``mjx:`` and ``jax:`` tasks: the ``flashsac`` learner with 1024
    envs, batch 2048, 2 updates per vector step, a 10M-transition device replay with
    100,000 random steps before learning, 50,000,896 env steps (48,829 vector steps),
    evaluation every tenth of them (4,882 vector steps) over 50 episodes, and the
    critic on the privileged state where a task provides one. The discount is the
    suite's (``SUITE_VALUES``): Playground 0.97 (the official runs are its G1 and T1
    joystick tasks), other device tasks 0.99. The official runs use fp16 autocast;
    this preset keeps float32 (--agent.matmul-dtype bfloat16 is the nearest here)."""
    cfg = _flashsac(cfg)
    return dataclasses.replace(
        cfg,
        env="mjx:G1JoystickFlatTerrain",
        steps=FLASHSAC_GPU_VECTOR_STEPS * 1024,
        eval_every=FLASHSAC_GPU_VECTOR_STEPS // 10 * 1024,
        eval_episodes=50,
        log_every=100_000,
        num_envs=1024,
        batch_size=2048,
        updates_per_step=2,
        buffer_size=10_000_000,
        warmup_steps=100_000,
        asymmetric_observation=True,
    )


# The published budget and evaluation cadence (NOTES.md): 1M env steps, evaluation
# every 50k. Only the presets that claim the published setup carry them.
PUBLISHED_STEPS = 1_000_000
PUBLISHED_EVAL_EVERY = 50_000

PRESETS: dict[str, TrainConfig] = {
    "simbav2": TrainConfig(
        preset="simbav2", steps=PUBLISHED_STEPS, eval_every=PUBLISHED_EVAL_EVERY
    ),
    "simbav2-small": _small(TrainConfig(preset="simbav2-small")),
    "simba": _simba(TrainConfig(preset="simba")),
    "sac-mlp": _sac_mlp(TrainConfig(preset="sac-mlp")),
    "simbav2-parallel": _simbav2_parallel(TrainConfig(preset="simbav2-parallel")),
    "td3-parallel": _td3_parallel(TrainConfig(preset="td3-parallel")),
    "flashsac": _flashsac(TrainConfig(preset="flashsac")),
    "flashsac-small": _flashsac_small(TrainConfig(preset="flashsac-small")),
    "flashsac-parallel": _flashsac_parallel(TrainConfig(preset="flashsac-parallel")),
}
"""Named starting points. ``simbav2``: the published defaults (UTD 2), budget
(1,000,000 env steps, so the learning-rate decay spans it) and evaluation every
50,000. ``simbav2-small``: critic width 128, actor width 64, for CPUs, with the
quick start's 30,000 steps (``simbarl train`` with no flags). ``simba``: SimBa v1
(scalar critic, AdamW 1e-2, no reward scaling). ``sac-mlp``: plain SAC with MLPs.
``simbav2-parallel`` / ``td3-parallel``: the massively parallel device-loop recipes
for ``mjx:`` tasks on a GPU (1024 envs, batch 8192; see ``_parallel``). ``flashsac``:
FlashSAC's networks and update with its official CPU settings (see ``_flashsac``);
``flashsac-small``: its networks at widths 64/128 for CPUs; ``flashsac-parallel``: its
official GPU settings for the device loop."""

_FLASHSAC_SUITES: dict[str, dict[str, Any]] = {
    # configs/flashSAC_base.yaml (gamma: 0.99) and scripts/run_mujoco.sh, run_dmc.sh,
    # run_humanoid_bench.sh (--overrides gamma=0.99)
    "*": {"agent.discount": 0.99},
    "myosuite": {"agent.discount": 0.95},  # scripts/run_myosuite.sh: gamma=0.95
    "playground": {"agent.discount": 0.97},  # scripts/run_mujoco_playground.sh: gamma=0.97
    "playground_dmc": {"agent.discount": 0.97},  # every mjx: task alike
}

SUITE_VALUES: dict[str, dict[str, dict[str, Any]]] = {
    "flashsac": _FLASHSAC_SUITES,
    "flashsac-small": _FLASHSAC_SUITES,
    "flashsac-parallel": _FLASHSAC_SUITES,
}
"""Per-suite values of the fields a preset leaves ``None``: preset -> suite (a
``SuitePreset`` name of ``envs/registry.py``: mujoco, dmc, myosuite, humanoid_bench, gym,
playground, playground_dmc, brax, jax; ``*`` for the others) -> dotted field -> value.
``resolve_for_task`` fills them before the suite's own rules (SimbaV2's action repeat and discount
heuristic); a value given on the command line is kept."""


def suite_values(name: str, suite: str) -> dict[str, Any]:
    """The dotted fields and values preset ``name`` sets on ``suite`` (none for a preset
    without per-suite values)."""
    table = SUITE_VALUES.get(name, {})
    return {**table.get("*", {}), **table.get(suite, {})}


DEFAULT_PRESET = "simbav2-small"


def preset(name: str) -> TrainConfig:
    """Return a preset by name, or fail with the list of names."""
    if name not in PRESETS:
        raise ValueError(f"unknown preset {name!r}; choose one of {', '.join(PRESETS)}")
    return PRESETS[name]
