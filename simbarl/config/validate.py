"""Checks of a configuration before any work starts, each saying what to fix."""

from __future__ import annotations

import dataclasses
import math
import typing

from simbarl.config.schema import AgentConfig, ReplayConfig, TrainConfig


def validate(cfg: TrainConfig) -> None:
    """Reject a configuration before any work starts, saying what to fix."""
    # NaN passes every comparison below unnoticed (NaN <= 0 is false): refuse it first
    problems = _non_finite(cfg)
    if not problems:
        problems = _run_problems(cfg) + _agent_problems(cfg) + _schedule_problems(cfg)
        problems += _replay_problems(cfg.replay)
    if len(problems) == 1:
        raise ValueError(f"invalid configuration: {problems[0]}")
    if problems:
        raise ValueError("invalid configuration:\n  " + "\n  ".join(problems))


def _non_finite(cfg, prefix: str = "") -> list[str]:
    """Every number of the config (at any depth, in tuples too) that is NaN or infinite:
    no field of it has a meaning for those."""
    problems = []
    for f in dataclasses.fields(cfg):
        value, name = getattr(cfg, f.name), prefix + f.name
        if dataclasses.is_dataclass(value):
            problems += _non_finite(value, name + ".")
            continue
        values = value if isinstance(value, tuple) else (value,)
        if any(isinstance(v, float) and not math.isfinite(v) for v in values):
            flag = "--" + name.replace("_", "-")
            problems.append(f"{flag} must be a finite number (got {value})")
    return problems


def _run_problems(cfg: TrainConfig) -> list[str]:
    """The run's sizes, cadences and data sources."""
    problems = []
    positive = {
        "steps": cfg.steps,
        "batch_size": cfg.batch_size,
        "updates_per_step": cfg.updates_per_step,
        "buffer_size": cfg.buffer_size,
        "num_envs": cfg.num_envs,
        "vmap_seeds": cfg.vmap_seeds,
        "devices": cfg.devices,
        "eval_every": cfg.eval_every,
        "eval_episodes": cfg.eval_episodes,
        "log_every": cfg.log_every,
        "agent.actor.width": cfg.agent.actor.width,
        "agent.critic.width": cfg.agent.critic.width,
        "agent.num_bins": cfg.agent.num_bins,
    }
    problems += [
        f"--{k.replace('_', '-')} must be positive (got {v})"
        for k, v in positive.items()
        if v is not None and v <= 0
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
    if cfg.buffer_memory is not None and not cfg.buffer_memory > 0:
        problems.append(f"--buffer-memory must be a positive GiB count (got {cfg.buffer_memory})")
    if cfg.warmup_steps < 0:
        problems.append(f"--warmup-steps must be >= 0 (got {cfg.warmup_steps})")
    if cfg.action_repeat is not None and cfg.action_repeat <= 0:
        problems.append(f"--action-repeat must be positive (got {cfg.action_repeat})")
    if cfg.agent.actor.num_blocks < 0 or cfg.agent.critic.num_blocks < 0:
        problems.append("--agent.*.num-blocks must be >= 0")
    return problems


def _agent_problems(cfg: TrainConfig) -> list[str]:
    """The learner's settings (some depend on ``--algo``)."""
    problems, a = [], cfg.agent
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
    return problems + _tqc_problems(cfg) + _flashsac_problems(cfg)


def _tqc_problems(cfg: TrainConfig) -> list[str]:
    problems, a = [], cfg.agent
    if cfg.algo == "tqc":
        if a.num_quantiles < 1 or a.tqc_critics < 1:
            problems.append("--agent.num-quantiles and --agent.tqc-critics must be positive")
        elif not 0 <= a.quantiles_to_drop < a.num_quantiles:
            problems.append(
                f"--agent.quantiles-to-drop must be in [0, {a.num_quantiles}) "
                f"(got {a.quantiles_to_drop})"
            )
    return problems


def _flashsac_problems(cfg: TrainConfig) -> list[str]:
    """FlashSAC's update and networks belong together: the batch-normalized networks
    need the update that keeps their running statistics, and that update is written for
    them (two categorical critics, a tanh-Gaussian policy with a state-dependent std)."""
    a = cfg.agent
    encoders = {a.actor.encoder, a.critic.encoder}
    if cfg.algo != "flashsac":
        if "flashsac" in encoders:
            return ["the flashsac encoder is FlashSAC's: use --algo flashsac (--preset flashsac)"]
        return []
    problems = []
    if encoders != {"flashsac"}:
        problems.append(
            "--algo flashsac needs --agent.actor.encoder flashsac and --agent.critic.encoder "
            "flashsac (--preset flashsac sets them)"
        )
    if a.critic_type != "categorical":
        problems.append("--algo flashsac has a categorical critic: --agent.critic-type categorical")
    if a.clipped_double_q is False:
        problems.append("--algo flashsac always has two critics: drop --agent.clipped-double-q")
    if not (a.squash and a.state_dependent_std) or a.action_penalty > 0:
        problems.append(
            "--algo flashsac's policy is a tanh Gaussian with a state-dependent std: keep "
            "--agent.squash and --agent.state-dependent-std, no --agent.action-penalty"
        )
    if a.noise_repeat_max < 1 or not a.noise_repeat_zeta > 0:
        problems.append(
            "--agent.noise-repeat-max must be >= 1 and --agent.noise-repeat-zeta > 0 (got "
            f"{a.noise_repeat_max} and {a.noise_repeat_zeta})"
        )
    return problems


def _schedule_problems(cfg: TrainConfig) -> list[str]:
    """Resets and action bounds from a dataset."""
    problems = []
    if any(s <= 0 for s in cfg.reset_at) or (cfg.reset_every is not None and cfg.reset_every <= 0):
        problems.append("--reset-at steps and --reset-every must be positive")
    if not 0.0 <= cfg.action_percentile < 50.0:
        problems.append(f"--action-percentile must be in [0, 50) (got {cfg.action_percentile})")
    return problems


def _replay_problems(r: ReplayConfig) -> list[str]:
    problems = []
    if r.n_step < 1:
        problems.append(f"--replay.n-step must be >= 1 (got {r.n_step})")
    if r.priority_exponent < 0 or r.importance_exponent < 0 or r.priority_eps <= 0:
        problems.append("--replay.priority-exponent/importance-exponent >= 0, priority-eps > 0")
    return problems + _recency_problems(r)


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
