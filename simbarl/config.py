"""Typed, frozen configuration for every run, and the named presets.

The CLI is generated from these dataclasses (tyro), so every field is a flag:
``--agent.critic.width 256``. Fields left as ``None`` are *derived* from the
task's suite when the run starts (discount heuristic, action repeat, clipped
double-Q); the resolved values are written to the run directory.
"""

from __future__ import annotations

import dataclasses
import typing
from dataclasses import dataclass, field
from typing import Literal

Encoder = Literal["simbav2", "simba", "mlp"]
Algo = Literal["sac", "td3", "ddpg", "tqc"]


@dataclass(frozen=True)
class NetworkConfig:
    """One network: an encoder followed by a head chosen by the algorithm."""

    encoder: Encoder = "simbav2"
    """Encoder family: ``simbav2`` (hyperspherical), ``simba`` (SimBa v1), ``mlp``."""
    width: int = 128
    """Hidden width d_h of the encoder."""
    num_blocks: int = 1
    """Residual blocks (SimbaV2/SimBa) or hidden layers (MLP)."""


@dataclass(frozen=True)
class AgentConfig:
    """The learner: networks, critic head, and each algorithm's settings.

    The SimbaV2 ingredients are each switchable by name. Fields left ``None``
    are filled per algorithm (and suite) when the run starts; the resolved
    values are written to the run directory's ``config.json``.
    """

    actor: NetworkConfig = field(default_factory=lambda: NetworkConfig("simbav2", 128, 1))
    critic: NetworkConfig = field(default_factory=lambda: NetworkConfig("simbav2", 512, 2))
    critic_type: Literal["categorical", "scalar", "quantile"] = "categorical"
    """``categorical``: 101-bin distributional critic (SimbaV2). ``scalar``: MSE critic.
    ``quantile``: TQC's quantile critics (set by --algo tqc, which always uses them)."""
    num_bins: int = 101
    """Bins of the categorical critic."""
    v_min: float = -5.0
    """Lowest bin value of the categorical critic (in scaled-reward units)."""
    v_max: float = 5.0
    """Highest bin value of the categorical critic."""
    clipped_double_q: bool | None = None
    """Two critics with the clipped double-Q rule. None: SAC by suite (MuJoCo and
    HumanoidBench on, DMC and MyoSuite off), TD3 on, DDPG off."""
    discount: float | None = None
    """Discount gamma. None: the SimbaV2 heuristic clip((H/5-1)/(H/5), 0.95, 0.995)."""
    tau: float = 0.005
    """Target critic EMA rate."""
    learning_rate: float = 1e-4
    """Initial Adam learning rate (actor, critic and temperature)."""
    learning_rate_end: float = 5e-5
    """Learning rate reached, linearly, at the end of the decay (see learning_rate_decay)."""
    actor_lr_scale: float = 1.0
    """The actor's learning rate (start and end) is learning_rate times this."""
    critic_lr_scale: float = 1.0
    """The critic's learning rate (start and end) is learning_rate times this; the
    temperature keeps learning_rate. Evolution mutates the two scales apart."""
    learning_rate_decay: float = 1.0
    """Fraction of the run's updates over which the learning rate decays to
    learning_rate_end, then stays there (offline SimbaV2: 0.5)."""
    bc_alpha: float = 0.0
    """Behaviour cloning weight (offline RL): adds bc_alpha * stopgrad(mean|Q|) *
    mean((a_pi - a_data)^2) to the actor loss (SimbaV2-BC, TD3+BC); 0: off."""
    weight_decay: float = 0.0
    """Decoupled weight decay (AdamW) for actor and critic; SimBa uses 1e-2."""
    temperature_init: float = 0.01
    """Initial entropy temperature alpha."""
    target_entropy_scale: float = 0.5
    """Target entropy is -scale * |A| (SimbaV2: 0.5)."""
    log_std_min: float = -10.0
    """Lower end of the policy log-std map."""
    log_std_max: float = 2.0
    """Upper end of the policy log-std map."""
    observation_norm: bool = True
    """RSNorm running observation statistics (float64 on the host)."""
    reward_scaling: bool = True
    """Scale rewards by the running discounted-return statistics (SimbaV2)."""
    g_max: float = 5.0
    """Reward scaling keeps |scaled return| <= g_max."""
    weight_projection: bool = True
    """Project hyperspherical weights to unit norm after init and every step."""
    input_shift: bool = True
    """Append the constant c_shift coordinate before the input l2-normalization."""
    c_shift: float = 3.0
    """Value of the shift coordinate."""
    target_entropy: float | None = None
    """SAC/TQC: absolute target entropy; None: -target_entropy_scale * |A|."""
    state_dependent_std: bool = True
    """SAC/TQC: log-std from a head on the state. Off: one learned log-std per action
    dimension, independent of the state (as PPO); steadier exploration on robots."""
    squash: bool = True
    """SAC/TQC: tanh-squashed Gaussian. Off: an unbounded Gaussian whose samples are
    clipped to [-1, 1] (the action bounds), as PPO acts; pair it with --agent.action-penalty."""
    action_penalty: float = 0.0
    """SAC/TQC: adds coef * mean(mu^2) of the policy mean to the actor loss (the original
    SAC's regularizer) so an unsquashed policy stays near its bounds."""
    learn_temperature: bool = True
    """SAC/TQC: tune the entropy temperature toward the target entropy. Off: alpha
    stays at --agent.temperature-init (for robots, a small fixed alpha is common)."""
    policy_delay: int | None = None
    """Update the actor (and temperature) on every d-th update only; the critic
    updates every time. None: TD3 2, others 1. With many parallel envs and a
    high UTD, a delay saves actor work (Raffin 2025)."""
    exploration_noise: float = 0.1
    """TD3/DDPG: std of the exploration noise added to actions while training."""
    exploration_noise_max: float | None = None
    """TD3/DDPG: if set, each env draws its std uniformly from [exploration_noise,
    this] at every episode start (FastTD3's per-env noise for many parallel envs)."""
    noise_type: Literal["gaussian", "ou"] = "gaussian"
    """TD3/DDPG exploration: independent Gaussian, or Ornstein-Uhlenbeck (correlated
    in time; DDPG's original choice, useful for robots with slow actuators)."""
    ou_theta: float = 0.15
    """Mean reversion of the OU noise per step."""
    policy_noise: float | None = None
    """TD3: std of the target policy smoothing noise. None: TD3 0.2, DDPG 0."""
    noise_clip: float = 0.5
    """TD3: the smoothing noise is clipped to +-noise_clip."""
    num_quantiles: int = 25
    """TQC: quantiles per critic."""
    quantiles_to_drop: int = 2
    """TQC: largest target quantiles dropped per critic (overestimation control)."""
    tqc_critics: int = 2
    """TQC: number of quantile critics (SB3/SBX default 2; the paper uses 5)."""
    matmul_dtype: Literal["float32", "bfloat16"] = "float32"
    """Dtype of the network matmuls. bfloat16: both operands of every matmul (forward
    and backward) in bfloat16, accumulated and returned in float32; parameters,
    optimizer and all other arithmetic stay float32. Faster on CPUs with AMX-BF16 and
    on GPU tensor cores; see the benchmarks' precision page for speed and learning."""


@dataclass(frozen=True)
class ReplayConfig:
    """How transitions are drawn from the replay buffer (uniform one-step by default)."""

    n_step: int = 1
    """n-step returns: sum n discounted rewards, bootstrap with gamma^n; stops at an
    episode's end (a time limit still bootstraps). 1: the published one-step target."""
    prioritized: bool = False
    """Proportional prioritized replay (Schaul et al. 2016) with importance weights."""
    priority_exponent: float = 0.6
    """alpha: priorities are (|TD error| + eps)^alpha."""
    importance_exponent: float = 0.4
    """beta at the first update; annealed linearly to 1 at the last."""
    priority_eps: float = 1e-6
    """eps: keeps every transition's priority above zero."""
    recency_decay_steps: int = 0
    """Recency-weighted ("linear decay") sampling: a transition with ``a`` transitions
    written after it is drawn with weight max(recency_min_weight, 1 - a / N), N this
    value (in transitions, as --buffer-size; CleanRL-JAX uses 80,000). 0: uniform.
    Not with --replay.prioritized (see docs/guides/replay.md)."""
    recency_min_weight: float = 0.0
    """Floor of the recency weight, in [0, 1]: 0 never draws transitions older than
    --replay.recency-decay-steps; a small value keeps old data in play."""
    obs_dtype: Literal["float32", "bfloat16"] = "float32"
    """Storage type of observations in the buffer; bfloat16 halves their memory (for
    large device-resident buffers). Batches are computed in float32 either way."""


@dataclass(frozen=True)
class TrainConfig:
    """An online training run."""

    env: str = "dmc:cartpole-swingup"
    """Task id: a Gymnasium id such as ``HalfCheetah-v5``, ``dmc:DOMAIN-TASK``, or a
    device-loop task ``mjx:NAME`` (MuJoCo Playground, e.g. mjx:CartpoleBalance) or
    ``jax:PointMass``, which train fully on the accelerator."""
    seed: int = 0
    """Seed for networks, exploration, replay sampling and environments."""
    steps: int = 30_000
    """Budget in environment (simulator) steps, action repeat included, as published;
    the learning-rate decay spans it. Per preset: simbav2 1,000,000 (the paper's);
    simbav2-small (the quick start) 30,000, under 10 minutes on a 2-core CPU."""
    run_dir: str | None = None
    """Run directory. None: runs/<env>/<preset>-seed<seed>-<time>."""
    preset: str = "simbav2-small"
    """Preset the run starts from (simbav2, simbav2-small, simba, sac-mlp); set by --preset."""
    algo: Algo = "sac"
    """Algorithm: ``sac`` (SimbaV2's), ``td3``, ``ddpg`` or ``tqc``; any encoder works."""
    agent: AgentConfig = field(default_factory=AgentConfig)
    batch_size: int = 256
    """Transitions per gradient update."""
    updates_per_step: int = 2
    """Gradient updates per agent step (UTD). SimbaV2's headline results use 2."""
    buffer_size: int = 1_000_000
    """Replay capacity in transitions (capped at the run's number of agent steps)."""
    replay: ReplayConfig = field(default_factory=ReplayConfig)
    action_low: tuple[float, ...] | None = None
    """Action-space control: the env action that -1 maps to, per dimension (one
    value: every dimension). None: the env's own bound. Narrow bounds help robots
    whose declared range is far wider than useful motions (Raffin 2025)."""
    action_high: tuple[float, ...] | None = None
    """The env action that +1 maps to, per dimension (see --action-low)."""
    action_bounds_from: str | None = None
    """A recorded action dataset (.npy of shape (N, A), or .npz with an ``actions``
    array) whose per-dimension percentiles fill --action-low/--action-high when unset."""
    action_percentile: float = 1.0
    """Bounds from a dataset are its p-th and (100-p)-th percentiles per dimension."""
    reset_at: tuple[int, ...] = ()
    """Re-initialize the networks (with their optimizer states) at these env steps,
    e.g. --reset-at 200000 500000. Replay, normalizers and temperature are kept."""
    reset_every: int | None = None
    """Also re-initialize every this many env steps (periodic resets)."""
    reset_networks: Literal["both", "actor", "critic"] = "both"
    """Which networks a reset re-initializes."""
    warmup_steps: int = 5_000
    """Transitions collected before learning starts: random actions, or the loaded
    policy's (exploring) actions with --init-from."""
    init_from: str | None = None
    """Offline-to-online: start from this run directory's weights (actor, critics,
    targets, temperature) and normalizer statistics, e.g. a ``simbarl offline`` run.
    Optimizers and the learning-rate schedule start fresh. Without --resume the
    source's task, algorithm and networks are used (see ``simbarl train --help``)."""
    init_data_ratio: float = 0.0
    """With --init-from an offline run: the fraction of every batch drawn from its
    dataset, kept beside the online replay (0.5: symmetric sampling as in RLPD;
    0: the dataset is not used online)."""
    num_envs: int = 1
    """Parallel training environments."""
    vmap_seeds: int = 1
    """Train seeds seed..seed+N-1 of the task together: one learner vmapped over seeds,
    one jitted call per agent step for all of them (for GPUs). Each seed is a normal run
    directory RUN_DIR/seed<k>; results match separate runs in distribution."""
    mjx_impl: Literal["auto", "jax", "warp"] = "auto"
    """Physics backend of ``mjx:`` (MuJoCo Playground) tasks: ``auto`` is the pure-JAX
    MJX path on a CPU and the task's own default (Warp) on an accelerator, or the JAX
    path there when Warp is not installed."""
    action_repeat: int | None = None
    """Raw simulator steps per action. None: by suite (MuJoCo 1, DMC 2)."""
    eval_every: int = 10_000
    """Evaluate every this many environment steps (and at the end). Per preset: simbav2
    50,000 (the paper's); simbav2-small 10,000."""
    eval_episodes: int = 10
    """Episodes per evaluation (deterministic policy)."""
    log_every: int = 1_000
    """Write training metrics every this many environment steps."""
    pause_at: int | None = None
    """Checkpoint and stop once this many env steps are done, keeping the budget
    (and so the learning-rate schedule) of ``steps``; continue with --resume.
    For jobs cut into chunks by a cluster's time limit."""
    stop_at_return: float | None = None
    """Stop (with a checkpoint) at the first evaluation whose mean return reaches this;
    for time-to-threshold measurements. With --vmap-seeds: the mean over seeds."""
    checkpoint: bool = True
    """Write a resumable checkpoint at each evaluation and at the end."""
    tensorboard: bool = True
    """Also write TensorBoard events."""
    progress: bool = True
    """Show a progress bar."""
    analyze_every: int = 10_000
    """Training-dynamics probe every this many env steps: parameter, gradient and feature
    norms, effective learning rate, optimizer step size, dormant units and feature rank of
    the actor and the critic, logged as ``dynamics/...`` rows (``simbarl analyze`` plots
    them). It draws its own batch with its own random stream: training is unchanged. 0: off."""
    analyze_batch: int = 256
    """Replay transitions the training-dynamics probe measures on."""
    wandb: bool = False
    """Also send every metrics row, the config and the evaluation returns to Weights &
    Biases (needs ``pip install 'simbarl[wandb]'``; WANDB_MODE=offline needs no account)."""
    wandb_project: str = "simbarl"
    """W&B project of --wandb runs."""
    wandb_entity: str | None = None
    """W&B entity (user or team) of --wandb runs; None: your default entity."""
    wandb_group: str | None = None
    """W&B group of --wandb runs; None: a --vmap-seeds run groups its seeds by its directory."""


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
}
"""Named starting points. ``simbav2``: the published defaults (UTD 2), budget
(1,000,000 env steps, so the learning-rate decay spans it) and evaluation every
50,000. ``simbav2-small``: critic width 128, actor width 64, for CPUs, with the
quick start's 30,000 steps (``simbarl train`` with no flags). ``simba``: SimBa v1
(scalar critic, AdamW 1e-2, no reward scaling). ``sac-mlp``: plain SAC with MLPs.
``simbav2-parallel`` / ``td3-parallel``: the massively parallel device-loop recipes
for ``mjx:`` tasks on a GPU (1024 envs, batch 8192; see ``_parallel``)."""

DEFAULT_PRESET = "simbav2-small"


def preset(name: str) -> TrainConfig:
    """Return a preset by name, or fail with the list of names."""
    if name not in PRESETS:
        raise ValueError(f"unknown preset {name!r}; choose one of {', '.join(PRESETS)}")
    return PRESETS[name]


def validate(cfg: TrainConfig) -> None:
    """Reject a configuration before any work starts, saying what to fix."""
    problems = []
    positive = {
        "steps": cfg.steps,
        "batch_size": cfg.batch_size,
        "updates_per_step": cfg.updates_per_step,
        "buffer_size": cfg.buffer_size,
        "num_envs": cfg.num_envs,
        "vmap_seeds": cfg.vmap_seeds,
        "eval_every": cfg.eval_every,
        "eval_episodes": cfg.eval_episodes,
        "log_every": cfg.log_every,
        "agent.actor.width": cfg.agent.actor.width,
        "agent.critic.width": cfg.agent.critic.width,
        "agent.num_bins": cfg.agent.num_bins,
    }
    problems += [
        f"--{k.replace('_', '-')} must be positive (got {v})" for k, v in positive.items() if v <= 0
    ]
    if cfg.analyze_every < 0:
        problems.append(f"--analyze-every must be >= 0 (0: off; got {cfg.analyze_every})")
    if cfg.analyze_batch <= 0:
        problems.append(f"--analyze-batch must be positive (got {cfg.analyze_batch})")
    if cfg.pause_at is not None and cfg.pause_at <= 0:
        problems.append(f"--pause-at must be positive (got {cfg.pause_at})")
    if not 0.0 <= cfg.init_data_ratio < 1.0:
        problems.append(f"--init-data-ratio must be in [0, 1) (got {cfg.init_data_ratio})")
    if cfg.init_data_ratio > 0 and cfg.init_from is None:
        problems.append("--init-data-ratio needs --init-from OFFLINE_RUN (the dataset's run)")
    if cfg.init_data_ratio > 0 and cfg.replay.prioritized:
        problems.append("--init-data-ratio does not combine with prioritized replay")
    if cfg.warmup_steps < 0:
        problems.append(f"--warmup-steps must be >= 0 (got {cfg.warmup_steps})")
    if cfg.action_repeat is not None and cfg.action_repeat <= 0:
        problems.append(f"--action-repeat must be positive (got {cfg.action_repeat})")
    if cfg.agent.actor.num_blocks < 0 or cfg.agent.critic.num_blocks < 0:
        problems.append("--agent.*.num-blocks must be >= 0")
    a = cfg.agent
    if a.discount is not None and not 0.0 < a.discount <= 1.0:
        problems.append(f"--agent.discount must be in (0, 1] (got {a.discount})")
    if not a.v_min < a.v_max:
        problems.append("--agent.v-min must be below --agent.v-max")
    if not 0.0 < a.tau <= 1.0:
        problems.append(f"--agent.tau must be in (0, 1] (got {a.tau})")
    if a.temperature_init <= 0:
        problems.append("--agent.temperature-init must be positive")
    if a.learning_rate <= 0 or a.learning_rate_end < 0:
        problems.append("learning rates must be positive")
    if not 0.0 < a.learning_rate_decay <= 1.0:
        problems.append(
            f"--agent.learning-rate-decay must be in (0, 1] (got {a.learning_rate_decay})"
        )
    if a.bc_alpha < 0:
        problems.append(f"--agent.bc-alpha must be >= 0 (got {a.bc_alpha})")
    if a.critic_type == "categorical" and a.num_bins < 2:
        problems.append("--agent.num-bins must be at least 2")
    if a.critic_type == "quantile" and cfg.algo != "tqc":
        problems.append("quantile critics are TQC's: use --algo tqc")
    if a.policy_delay is not None and a.policy_delay < 1:
        problems.append(f"--agent.policy-delay must be >= 1 (got {a.policy_delay})")
    for name in ("actor_lr_scale", "critic_lr_scale"):
        if not getattr(a, name) > 0:
            problems.append(f"--agent.{name.replace('_', '-')} must be > 0")
    dtypes = typing.get_args(typing.get_type_hints(AgentConfig)["matmul_dtype"])
    if a.matmul_dtype not in dtypes:
        problems.append(f"--agent.matmul-dtype must be one of {', '.join(dtypes)}")
    noises = {"exploration-noise": a.exploration_noise, "noise-clip": a.noise_clip}
    if a.policy_noise is not None:
        noises["policy-noise"] = a.policy_noise
    noises["action-penalty"] = a.action_penalty
    problems += [f"--agent.{k} must be >= 0 (got {v})" for k, v in noises.items() if v < 0]
    if a.exploration_noise_max is not None and a.exploration_noise_max < a.exploration_noise:
        problems.append("--agent.exploration-noise-max must be >= --agent.exploration-noise")
    if not 0.0 <= a.ou_theta <= 1.0:
        problems.append(f"--agent.ou-theta must be in [0, 1] (got {a.ou_theta})")
    if cfg.algo == "tqc":
        if a.num_quantiles < 1 or a.tqc_critics < 1:
            problems.append("--agent.num-quantiles and --agent.tqc-critics must be positive")
        elif not 0 <= a.quantiles_to_drop < a.num_quantiles:
            problems.append(
                f"--agent.quantiles-to-drop must be in [0, {a.num_quantiles}) "
                f"(got {a.quantiles_to_drop})"
            )
    if any(s <= 0 for s in cfg.reset_at) or (cfg.reset_every is not None and cfg.reset_every <= 0):
        problems.append("--reset-at steps and --reset-every must be positive")
    if not 0.0 <= cfg.action_percentile < 50.0:
        problems.append(f"--action-percentile must be in [0, 50) (got {cfg.action_percentile})")
    r = cfg.replay
    if r.n_step < 1:
        problems.append(f"--replay.n-step must be >= 1 (got {r.n_step})")
    if r.priority_exponent < 0 or r.importance_exponent < 0 or r.priority_eps <= 0:
        problems.append("--replay.priority-exponent/importance-exponent >= 0, priority-eps > 0")
    problems += _recency_problems(r)
    if problems:
        raise ValueError("invalid configuration:\n  " + "\n  ".join(problems))


def _recency_problems(r: ReplayConfig) -> list[str]:
    """Recency sampling's settings. With prioritized replay it is refused rather than
    multiplied in: the product's weights would have to sit in the sum tree, and every
    write ages every transition, so each step would rewrite the whole tree (the
    O(capacity) pass recency sampling exists to avoid); and prioritized replay undoes
    its own bias with importance weights, while recency sampling wants its bias."""
    problems = []
    if r.recency_decay_steps < 0:
        problems.append(
            f"--replay.recency-decay-steps must be >= 0 (got {r.recency_decay_steps}; 0: off)"
        )
    if not 0.0 <= r.recency_min_weight <= 1.0:
        problems.append(
            f"--replay.recency-min-weight must be in [0, 1] (got {r.recency_min_weight})"
        )
    elif r.recency_min_weight > 0 and r.recency_decay_steps == 0:
        problems.append(
            "--replay.recency-min-weight only acts with --replay.recency-decay-steps N > 0"
        )
    if r.recency_decay_steps > 0 and r.prioritized:
        problems.append(
            "--replay.recency-decay-steps does not combine with --replay.prioritized: "
            "choose one (recency weights change with every write, so they cannot live in "
            "the priority tree without a pass over the buffer per step)"
        )
    return problems
