"""Typed, frozen configuration: the schema, presets, checks, dict I/O and resolution.

``from simbarl.config import X`` serves every name of the modules below; they
import nothing of simbarl outside this package (the bottom layer).
"""

from simbarl.config.compare import config_label, differences, run_label
from simbarl.config.fields import (
    get_field,
    not_compiled,
    program_key,
    resumable,
    resume_overrides,
    set_field,
    vmapped,
)
from simbarl.config.io import (
    apply_overrides,
    apply_values,
    check_field_types,
    config_flags,
    config_from_dict,
    config_to_dict,
    describe,
    fits,
    leaf_type,
    merge,
    parse_config,
    parse_value,
)
from simbarl.config.presets import (
    DEFAULT_PRESET,
    PRESET_ALIASES,
    PRESETS,
    PUBLISHED_EVAL_EVERY,
    PUBLISHED_STEPS,
    is_preset,
    preset,
    preset_name,
)
from simbarl.config.resolve import (
    action_bounds,
    discount_heuristic,
    num_critics,
    resolve_action_bounds,
    resolve_algo,
    resolve_for_task,
)
from simbarl.config.schema import (
    AgentConfig,
    Algo,
    Encoder,
    NetworkConfig,
    ReplayConfig,
    TrainConfig,
    setting,
)
from simbarl.config.validate import validate

__all__ = [
    "DEFAULT_PRESET",
    "PRESET_ALIASES",
    "PRESETS",
    "PUBLISHED_EVAL_EVERY",
    "PUBLISHED_STEPS",
    "AgentConfig",
    "Algo",
    "Encoder",
    "NetworkConfig",
    "ReplayConfig",
    "TrainConfig",
    "action_bounds",
    "apply_overrides",
    "apply_values",
    "check_field_types",
    "config_flags",
    "config_from_dict",
    "config_label",
    "config_to_dict",
    "describe",
    "differences",
    "discount_heuristic",
    "fits",
    "get_field",
    "is_preset",
    "leaf_type",
    "merge",
    "parse_config",
    "not_compiled",
    "num_critics",
    "parse_value",
    "preset",
    "preset_name",
    "program_key",
    "resolve_action_bounds",
    "resolve_algo",
    "resolve_for_task",
    "resumable",
    "run_label",
    "resume_overrides",
    "set_field",
    "setting",
    "validate",
    "vmapped",
]
