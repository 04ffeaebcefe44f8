"""Search spaces: the format, the default SimbaV2 space, and refusals before anything runs."""

import json

import pytest

from simbarl.config import apply_values, config_from_dict, parse_config
from simbarl.search_space import (
    DEFAULT_SPACE,
    check_space,
    load_space,
    parse_space,
)


@pytest.fixture(scope="module")
def base():
    return parse_config("simbav2-small")[1]


def test_default_space_fits_simbav2_and_round_trips(base):
    space = load_space(DEFAULT_SPACE)
    check_space(space, base)
    assert {"agent.learning_rate", "agent.critic.width", "updates_per_step", "agent.g_max"} <= set(
        space.names
    )
    assert parse_space(space.to_dict()) == space
    # Each end of each range gives a config the trainer accepts.
    values = {p.name: p.choices[-1] if p.choices else p.high for p in space.params}
    cfg = config_from_dict(apply_values(base, values))
    assert cfg.agent.critic.width == 512 and cfg.agent.discount == 0.995


def test_yaml_and_json_files(tmp_path, base):
    pytest.importorskip("yaml")
    (tmp_path / "s.yaml").write_text(
        "params:\n"
        "  - {name: agent.learning_rate, type: float, low: 1.0e-4, high: 1.0e-3, log: true}\n"
        "  - {name: agent.noise_type, type: categorical, choices: [gaussian, ou]}\n"
    )
    (tmp_path / "s.json").write_text(
        json.dumps([{"name": "agent.critic.num_blocks", "type": "int", "low": 1, "high": 2}])
    )
    yaml_space = load_space(tmp_path / "s.yaml")
    assert yaml_space.params[0].log and yaml_space.params[1].choices == ("gaussian", "ou")
    check_space(yaml_space, base)
    check_space(load_space(tmp_path / "s.json"), base)
    (tmp_path / "broken.json").write_text("{params: ")
    with pytest.raises(ValueError, match="not valid JSON"):
        load_space(tmp_path / "broken.json")


@pytest.mark.parametrize(
    ("entry", "message"),
    [
        ({"name": "agent.critic.widht", "type": "int", "low": 1, "high": 3}, "unknown config"),
        ({"name": "agent.critic", "type": "int", "low": 1, "high": 3}, "group of fields"),
        ({"name": "agent.critic.width", "type": "float", "low": 8, "high": 9}, "use type int"),
        ({"name": "agent.tau", "type": "int", "low": 1, "high": 2}, "use type float"),
        ({"name": "agent.critic_type", "type": "categorical", "choices": ["scalar", "q"]}, "'q'"),
        ({"name": "agent.discount", "type": "float", "low": 0.9, "high": 1.5}, "must be in"),
        ({"name": "batch_size", "type": "int", "low": 0, "high": 64}, "must be positive"),
        ({"name": "steps", "type": "int", "low": 100, "high": 200}, "set by the search"),
    ],
)
def test_fields_and_values_checked_against_the_config(base, entry, message):
    with pytest.raises(ValueError, match=message):
        check_space(parse_space([entry]), base)


@pytest.mark.parametrize(
    ("entries", "message"),
    [
        ([], "at least one entry"),
        ([{"name": "agent.tau", "type": "float", "low": 0.1, "high": 0.01}], "is empty"),
        ([{"name": "agent.tau", "type": "float", "low": 0.1, "high": 0.1}], "is empty"),
        ([{"name": "agent.tau", "type": "float", "low": 0.0, "high": 0.1, "log": True}], "low > 0"),
        ([{"name": "agent.tau", "type": "uniform", "low": 0.0, "high": 0.1}], "type must be"),
        ([{"name": "agent.tau", "type": "float", "low": 0.0, "hi": 0.1}], "unknown keys"),
        ([{"name": "batch_size", "type": "categorical", "choices": [64]}], "at least two"),
        ([{"name": "x", "type": "float", "low": 0, "high": 1}] * 2, "more than once"),
    ],
)
def test_malformed_entries_refused(entries, message):
    with pytest.raises(ValueError, match=message):
        parse_space({"params": entries})
