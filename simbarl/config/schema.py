"""Typed, frozen configuration for every run, and what each field means to a run.

The CLI is generated from these dataclasses (tyro), so every field is a flag:
``--agent.critic.width 256``. Fields left as ``None`` are *derived* from the
task's suite when the run starts (discount heuristic, action repeat, clipped
double-Q); the resolved values are written to the run directory.

A field declared with ``setting`` says, in its metadata, what changing it does:

* ``compute=False``: the compiled programs (host step, device loop, a
  population's group program) do not depend on it; a field without the key
  counts as one they do (a new field recompiles rather than reuses a program).
* ``on_resume="command"`` / ``"run"``: a resumed run may differ in it and then
  takes the command line's value, or keeps the run's; a field without the key
  must match the run's (a new field refuses a different value on resume).
* ``vmapped=True`` (agent fields): a float hyperparameter a population passes
  into its one vmapped program as data, so members differing in it train together.

``simbarl.config.fields`` derives the sets the loops use from these keys.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

Encoder = Literal["simbav2", "simba", "mlp", "flashsac"]
Algo = Literal["sac", "td3", "ddpg", "tqc", "flashsac"]
OnResume = Literal["command", "run"]
Progress = Literal["auto", "bar", "plain", "off"]
METADATA_KEYS = ("compute", "on_resume", "vmapped")


def setting(
    default: Any, *, compute: bool = True, on_resume: OnResume | None = None, vmapped: bool = False
) -> Any:
    """A field with ``default`` and the metadata the module docstring describes; only
    what differs from the safe default (compiled, must match on resume, not vmapped)
    is written into it."""
    meta: dict[str, Any] = {}
    if not compute:
        meta["compute"] = False
    if on_resume is not None:
        meta["on_resume"] = on_resume
    if vmapped:
        meta["vmapped"] = True
    return field(default=default, metadata=meta)


@dataclass(frozen=True)
class NetworkConfig:
    """One network: an encoder followed by a head chosen by the algorithm."""

    encoder: Encoder = "simbav2"
    """Encoder family: ``simbav2`` (hyperspherical), ``simba`` (SimBa v1), ``mlp``, or
    ``flashsac`` (batch-normalized; the FlashSAC algorithm's, and only its)."""
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
    """Discount gamma. None: the preset's value for the task's suite (flashsac presets),
    else the SimbaV2 heuristic clip((H/5-1)/(H/5), 0.95, 0.995)."""
    tau: float = setting(0.005, vmapped=True)
    """Target critic EMA rate."""
    learning_rate: float = setting(1e-4, vmapped=True)
    """Initial Adam learning rate (actor, critic and temperature)."""
    learning_rate_end: float = setting(5e-5, vmapped=True)
    """Learning rate reached, linearly, at the end of the decay (see learning_rate_decay)."""
    actor_lr_scale: float = setting(1.0, vmapped=True)
    """The actor's learning rate (start and end) is learning_rate times this."""
    critic_lr_scale: float = setting(1.0, vmapped=True)
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
    target_entropy_scale: float = setting(0.5, vmapped=True)
    """Target entropy is -scale * |A| (SimbaV2: 0.5)."""
    log_std_min: float = -10.0
    """SAC, TQC, FlashSAC: lower end of the policy's log-std map, ``log_std = min + (max -
    min) (1 + tanh(raw)) / 2`` before the tanh squash (SimbaV2 and FlashSAC: -10)."""
    log_std_max: float = 2.0
    """SAC, TQC, FlashSAC: upper end of the log-std map, a cap on the policy's std before
    the squash (std <= exp(max)). SimbaV2 and FlashSAC: 2; FastSAC caps it at 0 (std <= 1,
    --preset parallel-sac), keeping many parallel envs off tanh's saturated ends."""
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
    exploration_noise: float = setting(0.1, vmapped=True)
    """TD3/DDPG: std of the exploration noise added to actions while training."""
    exploration_noise_max: float | None = None
    """TD3/DDPG: if set, each env draws its std uniformly from [exploration_noise,
    this] at every episode start (FastTD3's per-env noise for many parallel envs)."""
    noise_type: Literal["gaussian", "ou"] = "gaussian"
    """TD3/DDPG exploration: independent Gaussian, or Ornstein-Uhlenbeck (correlated
    in time; DDPG's original choice, useful for robots with slow actuators)."""
    ou_theta: float = 0.15
    """Mean reversion of the OU noise per step."""
    noise_repeat_zeta: float = 2.0
    """FlashSAC: each env's exploration noise vector is held for k steps, P(k) ~ k^-zeta."""
    noise_repeat_max: int = 16
    """FlashSAC: the longest hold of an exploration noise vector (steps); 1: fresh noise
    at every step."""
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
    device-loop task ``mjx:NAME`` (MuJoCo Playground, e.g. mjx:CartpoleBalance),
    ``brax:NAME`` (Brax's MJX environments, e.g. brax:ant) or ``jax:PointMass``, which
    train fully on the accelerator."""
    seed: int = setting(0, compute=False)
    """Seed for networks, exploration, replay sampling and environments."""
    steps: int | None = setting(None, on_resume="command")
    """Budget in environment (simulator) steps, action repeat included, as published;
    the learning-rate decay spans it. Per preset: simbav2 1,000,000 (the paper's);
    simbav2-small (the quick start) 30,000, under 10 minutes on a 2-core CPU, and
    500,000 on device-loop tasks (``mjx:``, ``brax:``, ``jax:``), a few minutes for
    mjx:CartpoleBalance on a CPU."""
    run_dir: str | None = setting(None, compute=False, on_resume="run")
    """Run directory. None: runs/<env>/<preset>-seed<seed>-<time>."""
    preset: str = setting("simbav2", on_resume="run")
    """Preset the run starts from (simbarl presets lists them); set by --preset. A
    ``TrainConfig()`` built in code holds SimbaV2's full-size networks, so it says
    ``simbav2``; the command line's default is ``simbav2-small``. A resume keeps the
    run's (the resolved config holds what the preset set)."""
    algo: Algo = "sac"
    """Algorithm: ``sac`` (SimbaV2's), ``td3``, ``ddpg`` or ``tqc``, on any encoder but
    ``flashsac``; or ``flashsac`` (FlashSAC's update, on its own networks: --preset flashsac)."""
    agent: AgentConfig = field(default_factory=AgentConfig)
    batch_size: int = 256
    """Transitions per gradient update."""
    updates_per_step: int = 2
    """Gradient updates per agent step (UTD). SimbaV2's headline results use 2."""
    buffer_size: int = 1_000_000
    """Replay capacity in transitions (capped at the run's number of agent steps)."""
    buffer_memory: float | None = None
    """Size the replay by memory instead: the capacity is the most transitions whose
    replay fits in this many GiB (2^30 bytes), every --vmap-seeds buffer together (both
    observations in --replay.obs-dtype, action, reward, the two end flags, the priority
    tree with --replay.prioritized), rounded down to a multiple of --num-envs. It replaces
    --buffer-size, which the run's config.json records; a budget above the device's free
    memory is refused. None: --buffer-size."""
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
    num_envs: int | None = None
    """Parallel training environments. None: by suite, 1 for Gymnasium and DMC tasks
    (host loop), 16 for device-loop tasks (``mjx:``, ``brax:``, ``jax:``)."""
    vmap_seeds: int = 1
    """Train seeds seed..seed+N-1 of the task together: one learner vmapped over seeds,
    one jitted call per agent step for all of them (for GPUs). Each seed is a normal run
    directory RUN_DIR/seed<k>; results match separate runs in distribution."""
    devices: int | None = setting(None, on_resume="command")
    """Device-loop tasks (``mjx:``, ``jax:``): local devices (GPUs) the loop splits over,
    data parallel: each holds its share of the envs and of the replay's rows and computes
    the losses of its share of every batch; the learner is replicated. None: all local
    devices; 1: one. --num-envs and --batch-size must divide by the count. The host loop
    uses one device."""
    overlap: bool = setting(False, on_resume="command")
    """Host-loop tasks: run each agent step's updates on the accelerator while the envs
    step on the host (asynchronous dispatch), instead of one after the other. An update
    then does not see the vector step simulated beside it (it joins the next update's
    replay, and the normalization statistics are those before it: the first updates see
    one vector step fewer than --warmup-steps); the actions still come from the latest
    networks. A run with it says so in its first progress line. Off by default: in the
    learning check on the results page it learned more slowly on one of two tasks. For
    GPUs; on a CPU both would share the same cores. Device-loop tasks run in one jitted
    scan and take no overlap."""
    mjx_impl: Literal["auto", "jax", "warp"] = "auto"
    """Physics backend of ``mjx:`` (MuJoCo Playground) tasks: ``auto`` is the pure-JAX
    MJX path on a CPU and the task's own default (Warp) on an accelerator, or the JAX
    path there when Warp is not installed."""
    asymmetric_observation: bool = False
    """Device-loop tasks that observe a dict with a ``privileged_state`` beside their
    ``state`` (MuJoCo Playground's locomotion tasks): the critics and the replay see the
    privileged state and the actor its first ``state``-sized part, which is the ``state``
    entry (FlashSAC's asymmetric observations). Other tasks: no effect."""
    action_repeat: int | None = None
    """Raw simulator steps per action. None: by preset and suite (MuJoCo 1, DMC 2)."""
    eval_every: int = 10_000
    """Evaluate every this many environment steps (and at the end). Per preset: simbav2
    50,000 (the paper's); simbav2-small 10,000."""
    eval_episodes: int = 10
    """Episodes per evaluation (deterministic policy)."""
    log_every: int = setting(1_000, on_resume="run")
    """Write training metrics every this many environment steps."""
    pause_at: int | None = setting(None, compute=False, on_resume="command")
    """Checkpoint and stop once this many env steps are done, keeping the budget
    (and so the learning-rate schedule) of ``steps``; continue with --resume.
    For jobs cut into chunks by a cluster's time limit."""
    stop_at_return: float | None = setting(None, on_resume="command")
    """Stop (with a checkpoint) at the first evaluation whose mean return reaches this;
    for time-to-threshold measurements. With --vmap-seeds: the mean over seeds."""
    checkpoint: bool = True
    """Write a resumable checkpoint at each evaluation and at the end."""
    tensorboard: bool = setting(True, compute=False, on_resume="run")
    """Also write TensorBoard events."""
    progress: Progress = setting("auto", compute=False, on_resume="command")
    """How a run shows its progress: ``bar`` (a progress bar on stderr), ``plain`` (a line
    on stdout per training log and per evaluation: env step, steps/s, ETA, return, for
    logs and pipes), ``off`` (only the final line; ``--no-progress``), or ``auto``: a bar
    when stdout and stderr are terminals, plain lines otherwise. (``true`` and ``false``,
    as older runs saved it, read as ``auto`` and ``off``.)"""
    analyze_every: int = setting(10_000, compute=False, on_resume="command")
    """Training-dynamics probe every this many env steps: parameter, gradient and feature
    norms, effective learning rate, optimizer step size, dormant units and feature rank of
    the actor and the critic, logged as ``dynamics/...`` rows (``simbarl analyze`` plots
    them). It draws its own batch with its own random stream: training is unchanged. 0: off."""
    analyze_batch: int = setting(256, compute=False, on_resume="command")
    """Replay transitions the training-dynamics probe measures on."""
    wandb: bool = setting(False, compute=False, on_resume="command")
    """Also send every metrics row, the config and the evaluation returns to Weights &
    Biases (needs ``pip install 'simbarl[wandb]'``; WANDB_MODE=offline needs no account)."""
    wandb_project: str = setting("simbarl", compute=False, on_resume="command")
    """W&B project of --wandb runs."""
    wandb_entity: str | None = setting(None, compute=False, on_resume="command")
    """W&B entity (user or team) of --wandb runs; None: your default entity."""
    wandb_group: str | None = setting(None, compute=False, on_resume="command")
    """W&B group of --wandb runs; None: a --vmap-seeds run groups its seeds by its directory."""
