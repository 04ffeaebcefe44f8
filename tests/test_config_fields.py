"""The field sets the loops use come from the fields' metadata, and say what the
hand-kept lists they replaced said."""

from __future__ import annotations

import dataclasses

from simbarl.config import (
    AgentConfig,
    NetworkConfig,
    ReplayConfig,
    TrainConfig,
    not_compiled,
    program_key,
    resumable,
    resume_overrides,
    setting,
    vmapped,
)
from simbarl.config.schema import METADATA_KEYS
from simbarl.evolve.groups import HYPER_FIELDS, group_key

# The lists as they were written by hand before the metadata (run_dir.py's
# RESUMABLE_FIELDS and RESUME_OVERRIDES, device.py's _cache_key, groups.py's
# HYPER_FIELDS and group_key), kept here once to show the derived sets agree.
OLD_RESUMABLE = {
    *("steps", "run_dir", "progress", "tensorboard", "log_every", "pause_at"),
    *("stop_at_return", "analyze_every", "analyze_batch"),
    *("wandb", "wandb_project", "wandb_entity", "wandb_group"),
}
OLD_RESUME_OVERRIDES = {
    *("steps", "progress", "pause_at", "stop_at_return", "analyze_every", "analyze_batch"),
    *("wandb", "wandb_project", "wandb_entity", "wandb_group"),
}
OLD_CACHE_KEY = {
    *("seed", "run_dir", "pause_at", "progress", "tensorboard", "analyze_every"),
    *("analyze_batch", "wandb", "wandb_project", "wandb_entity", "wandb_group"),
}
OLD_HYPER_FIELDS = {
    *("learning_rate", "learning_rate_end", "actor_lr_scale", "critic_lr_scale"),
    *("tau", "target_entropy_scale", "exploration_noise"),
}
OLD_GROUP_KEY = {"run_dir", "progress", "tensorboard"}
# Fields added since, with their metadata: a run may resume on another device count,
# and with or without the host loop's overlap (a GPU run continued on a CPU, say).
NEW_RESUME_OVERRIDES = {"devices", "overlap"}
# A resume keeps the run's preset name (a label once resolved): a run begun from a
# TrainConfig() when its default said simbav2-small resumes from a TrainConfig() now.
NEW_RESUMABLE = {"preset"}


def test_derived_sets_equal_the_old_lists():
    assert resumable() == OLD_RESUMABLE | NEW_RESUME_OVERRIDES | NEW_RESUMABLE
    assert resume_overrides() == OLD_RESUME_OVERRIDES | NEW_RESUME_OVERRIDES
    assert not_compiled() == OLD_CACHE_KEY
    assert set(vmapped()) == set(HYPER_FIELDS) == OLD_HYPER_FIELDS
    # the nested configs carry no top-level notion: all their fields are compiled
    for cls in (AgentConfig, NetworkConfig, ReplayConfig):
        assert not not_compiled(cls) and not resumable(cls)


def test_group_key_ignores_what_it_ignored_and_what_members_share():
    """group_key ignored run_dir, progress and tensorboard; it now ignores every
    ``compute=False`` field. The others (seed, pause_at, the probe's and W&B's
    settings) are the population's, equal in every member (mutations change agent
    fields, batch size and UTD only), so the groups are the ones formed before."""
    assert OLD_GROUP_KEY <= not_compiled()
    base = TrainConfig()
    for name in not_compiled():
        f = next(f for f in dataclasses.fields(TrainConfig) if f.name == name)
        other = {int: 7, bool: not f.default, str: "x"}.get(type(f.default), 3)
        assert group_key(dataclasses.replace(base, **{name: other})) == group_key(base)
    changed = dataclasses.replace(base, batch_size=base.batch_size * 2)
    assert group_key(changed) != group_key(base)
    hyper = dataclasses.replace(base, agent=dataclasses.replace(base.agent, tau=0.01))
    assert group_key(hyper) == group_key(base)


def test_program_key_sets_uncompiled_fields_to_their_defaults_only():
    cfg = dataclasses.replace(
        TrainConfig(), seed=5, run_dir="x", wandb=True, analyze_every=0, steps=123, num_envs=3
    )
    key = program_key(cfg)
    assert (key.seed, key.run_dir, key.wandb, key.analyze_every) == (0, None, False, 10_000)
    assert (key.steps, key.num_envs, key.agent) == (123, 3, cfg.agent)
    assert program_key(dataclasses.replace(cfg, seed=9)) == key


def test_metadata_uses_known_keys_and_values():
    for cls in (TrainConfig, AgentConfig, NetworkConfig, ReplayConfig):
        for f in dataclasses.fields(cls):
            assert set(f.metadata) <= set(METADATA_KEYS), (cls.__name__, f.name)
            assert f.metadata.get("compute", False) is False
            assert f.metadata.get("on_resume", "run") in ("command", "run")
            assert f.metadata.get("vmapped", True) is True
    assert not [f for f in dataclasses.fields(TrainConfig) if f.metadata.get("vmapped")]


def test_a_new_field_without_metadata_is_treated_safely():
    """A field added without metadata is compiled (in every program key), must match
    on resume, and is not vmapped: forgetting to classify it costs a recompile or a
    refused resume, never a wrong reuse."""

    @dataclasses.dataclass(frozen=True)
    class Grown:
        new_knob: int = 1
        label: str = setting("a", compute=False, on_resume="run")

    assert not_compiled(Grown) == {"label"}
    assert resumable(Grown) == {"label"} and not resume_overrides(Grown)
    assert vmapped(Grown) == ()
    assert program_key(Grown(new_knob=2)) != program_key(Grown(new_knob=1))
    assert program_key(Grown(label="b")) == program_key(Grown())
