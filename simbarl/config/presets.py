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


PARALLEL_ENVS = 1024


def _parallel(cfg: TrainConfig) -> TrainConfig:
    """What the two massively parallel recipes share, per value and its source.

    The networks are SimbaV2's (actor 128 x 1 block, critic 512 x 2 blocks), the
    library's default: its 101-bin categorical critic is the distributional critic both
    FastTD3 and FastSAC use (101 atoms), and with SimbaV2's reward scaling its support
    stays [-5, 5] on every task, where FastTD3 sets it per benchmark (+-10 on Playground,
    +-250 to +-10,000 on HumanoidBench) and FastSAC to +-20. FastTD3 ships a
    SimbaV2 variant (``fast_td3/fast_td3_simbav2.py``: critic 2 blocks, actor 1); its
    plain networks are wider MLPs (critic 1024, actor 512; FastSAC 768 and 512): widen
    with --agent.critic.width and --agent.actor.width. Because the hypersphere projection
    fixes every weight's norm, FastTD3's and FastSAC's AdamW weight decay (0.1 and 0.001)
    has nothing to act on and stays off.

    * num_envs 1024: FastTD3 on Playground (``MuJoCoPlaygroundArgs.num_envs``); many
      simulators per step keep the accelerator busy and the data fresh.
    * discount 0.97: FastTD3 on Playground and FastSAC (``gamma``); shorter horizons
      learn faster from massive, correlated data.
    * learning rate 3e-4, constant: both (actor, critic and temperature; FastTD3's
      ``*_learning_rate_end`` is 3e-4 too).
    * warmup_steps 10 vector steps (``learning_starts = 10`` in both).
    * steps 10M env steps, evaluation every 500k over 128 parallel episodes on the device,
      logs every 100k: about 10,000 vector steps (FastTD3 runs 50,000 to 150,000 vector
      steps on its Playground humanoids and quadrupeds: raise --steps there).
    * action repeat by suite, as in every preset: 1 on Playground's locomotion and
      manipulation tasks (their own control step, as FastTD3 and FastSAC), 2 on its DMC
      ports (DMC's; FastTD3 uses none there: --action-repeat 1).
    Action bounds: Raffin (2025) found SAC on massively parallel simulators needs them a
    few percent of a robot's nominal range; narrow them with --action-low/--action-high
    or --action-bounds-from.
    """
    agent = dataclasses.replace(
        cfg.agent, discount=0.97, learning_rate=3e-4, learning_rate_end=3e-4
    )
    return dataclasses.replace(
        cfg,
        agent=agent,
        env="mjx:CartpoleBalance",
        steps=10_000_000,
        num_envs=PARALLEL_ENVS,
        warmup_steps=10 * PARALLEL_ENVS,
        eval_every=500_000,
        eval_episodes=128,
        log_every=100_000,
    )


def _parallel_sac(cfg: TrainConfig) -> TrainConfig:
    """SAC as FastSAC trains it (holosoma, amazon-far/holosoma
    ``src/holosoma/holosoma/config_values/algo.py``, ``fast_sac``), on ``_parallel``'s
    SimbaV2 networks:

    * batch_size 8192, updates_per_step 8: ``batch_size=8192`` (the global batch over all
      envs), ``num_updates=8`` gradient steps per vector step, sampled at once.
    * policy_delay 4: ``policy_frequency=4``, the actor steps on every 4th update (2 of
      the 8). FastSAC steps the temperature at every update; SAC here steps it with the
      actor.
    * tau 0.125: ``tau=0.125``, every update.
    * temperature_init 1e-3: ``alpha_init=0.001``, tuned from there (``use_autotune``):
      a small initial entropy bonus, which massive parallel data needs little of.
    * target_entropy_scale 0: ``target_entropy_ratio=0.0``, a target entropy of 0.
    * log_std in [-5, 0]: ``log_std_min=-5.0``, ``log_std_max=0.0`` through the same
      tanh map as here; a std of at most 1 before the squash keeps the policy off the
      saturated ends of tanh.
    * clipped_double_q off: FastSAC trains two critics, each on its own target, and the
      actor on their mean, with no minimum; one critic is the nearest here.
    * buffer_size 1024 per env (``buffer_size=1024``, per env), 1,048,576 transitions.
    """
    cfg = _parallel(cfg)
    agent = dataclasses.replace(
        cfg.agent,
        tau=0.125,
        temperature_init=1e-3,
        target_entropy_scale=0.0,
        log_std_min=-5.0,
        log_std_max=0.0,
        policy_delay=4,
        clipped_double_q=False,
    )
    return dataclasses.replace(
        cfg,
        agent=agent,
        batch_size=8192,
        updates_per_step=8,
        buffer_size=1024 * PARALLEL_ENVS,
    )


def _parallel_td3(cfg: TrainConfig) -> TrainConfig:
    """TD3 as FastTD3 trains it on MuJoCo Playground (younggyoseo/FastTD3
    ``fast_td3/hyperparams.py``, ``BaseArgs`` and ``MuJoCoPlaygroundArgs``), on
    ``_parallel``'s SimbaV2 networks (the categorical critic: FastTD3's distributional one):

    * batch_size 32768, updates_per_step 2: ``batch_size=32768``, ``num_updates=2``.
    * policy_delay 2: ``policy_frequency=2``, one actor step per vector step.
    * clipped double Q: ``use_cdq=True``.
    * exploration noise per env drawn from [0.001, 0.4] at every episode start:
      ``std_min=0.001``, ``std_max=0.4``; some envs explore widely, others refine.
    * target policy smoothing std 0.001, clipped at 0.5: ``policy_noise=0.001``,
      ``noise_clip=0.5``.
    * tau 0.1: ``tau=0.1``. FastTD3 moves its target critic after every update; TD3 here
      moves its targets with the actor, every 2nd update.
    * buffer_size 10 x 1024 per env (``buffer_size=1024 * 10``, per env), 10,485,760
      transitions.
    * 1024 evaluation episodes in parallel (``num_eval_envs=1024``).
    """
    cfg = _parallel(cfg)
    agent = dataclasses.replace(
        cfg.agent,
        tau=0.1,
        clipped_double_q=True,
        policy_delay=2,
        exploration_noise=0.001,
        exploration_noise_max=0.4,
        policy_noise=0.001,
        noise_clip=0.5,
    )
    return dataclasses.replace(
        cfg,
        algo="td3",
        agent=agent,
        batch_size=32768,
        updates_per_step=2,
        buffer_size=10 * 1024 * PARALLEL_ENVS,
        eval_episodes=1024,
    )


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
    "parallel-sac": _parallel_sac(TrainConfig(preset="parallel-sac")),
    "parallel-td3": _parallel_td3(TrainConfig(preset="parallel-td3")),
    "flashsac": _flashsac(TrainConfig(preset="flashsac")),
    "flashsac-small": _flashsac_small(TrainConfig(preset="flashsac-small")),
    "flashsac-parallel": _flashsac_parallel(TrainConfig(preset="flashsac-parallel")),
}
"""Named starting points. ``simbav2``: the published defaults (UTD 2), budget
(1,000,000 env steps, so the learning-rate decay spans it) and evaluation every
50,000. ``simbav2-small``: critic width 128, actor width 64, for CPUs, with the
quick start's 30,000 steps (``simbarl train`` with no flags). ``simba``: SimBa v1
(scalar critic, AdamW 1e-2, no reward scaling). ``sac-mlp``: plain SAC with MLPs.
``parallel-sac`` / ``parallel-td3``: the massively parallel device-loop recipes for
``mjx:`` tasks on a GPU, FastSAC's and FastTD3's (1024 envs; see ``_parallel_sac`` and
``_parallel_td3``). ``flashsac``:
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


PRESET_ALIASES: dict[str, str] = {
    "simbav2-parallel": "parallel-sac",
    "td3-parallel": "parallel-td3",
}
"""Earlier names of presets, kept so that scripts using them still run: each resolves to
the preset it names (the recipe itself has one definition), and a run started with one
records the preset's own name."""

DEFAULT_PRESET = "simbav2-small"


def preset_name(name: str) -> str:
    """The preset ``name`` refers to: itself, or the preset an alias names."""
    return PRESET_ALIASES.get(name, name)


def is_preset(name: str) -> bool:
    """Whether ``name`` is a preset or an alias of one."""
    return preset_name(name) in PRESETS


def preset(name: str) -> TrainConfig:
    """Return a preset by name (or alias), or fail with the list of names."""
    if not is_preset(name):
        names = ", ".join([*PRESETS, *PRESET_ALIASES])
        raise ValueError(f"unknown preset {name!r}; choose one of {names}")
    return PRESETS[preset_name(name)]
