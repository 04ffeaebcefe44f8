"""The FlashSAC presets carry the official settings per benchmark, read from the official
code (Holiday-Robot/FlashSAC @87edc90, /work/shared/third_party/flashsac: configs/ and
scripts/run_*.sh); each number below names the file it was read from."""

import dataclasses

import pytest

from simbarl.cli import main
from simbarl.config import preset, resolve_for_task, validate
from simbarl.config.presets import suite_values
from simbarl.envs.registry import SUITES, TaskSpec
from simbarl.runs import run_dir as rd

# scripts/run_mujoco.sh, run_dmc.sh, run_humanoid_bench.sh, run_myosuite.sh (CPU):
# gamma=0.99, 0.99, 0.99, 0.95; run_mujoco_playground.sh (GPU): gamma=0.97.
OFFICIAL_DISCOUNT = {
    "mujoco": 0.99,
    "dmc": 0.99,
    "humanoid_bench": 0.99,
    "myosuite": 0.95,
    "playground": 0.97,
    "playground_dmc": 0.97,  # Playground's DMC ports: every mjx: task alike
    "gym": 0.99,  # configs/flashSAC_base.yaml: gamma: 0.99, the default of any other
    "jax": 0.99,
}
LENGTHS = {"dmc": 1000, "myosuite": 150, "humanoid_bench": 1000}


def _task(suite: str) -> TaskSpec:
    return TaskSpec(f"some-{suite}-task", suite, 5, 2, LENGTHS.get(suite, 1000), SUITES[suite])


def _resolved(name: str, suite: str, **fields):
    cfg = dataclasses.replace(preset(name), **fields)
    validate(cfg)
    return resolve_for_task(cfg, _task(suite))


@pytest.mark.parametrize("name", ["flashsac", "flashsac-small"])
@pytest.mark.parametrize("suite", ["mujoco", "dmc", "humanoid_bench", "myosuite", "gym"])
def test_flashsac_cpu_presets_resolve_to_the_official_settings_per_suite(name, suite):
    cfg = _resolved(name, suite)
    # Every CPU script: num_train_envs=1, agent.sample_batch_size=512,
    # updates_per_interaction_step=1, agent.buffer_max_length=1_000_000,
    # agent.buffer_min_length=10_000, n_step=1.
    assert (cfg.num_envs, cfg.batch_size, cfg.updates_per_step) == (1, 512, 1)
    assert (cfg.buffer_size, cfg.warmup_steps, cfg.replay.n_step) == (1_000_000, 10_000, 1)
    # configs/env/dmc.yaml has no action repeat (FLASHSAC.md section 6); none anywhere.
    assert cfg.action_repeat == 1
    assert cfg.agent.discount == OFFICIAL_DISCOUNT[suite]
    assert cfg.agent.clipped_double_q and cfg.agent.policy_delay == 2  # actor_update_period: 2
    assert not cfg.asymmetric_observation  # agent.asymmetric_observation=false on CPUs


def test_flashsac_budget_and_the_small_sizes():
    full, small = preset("flashsac"), preset("flashsac-small")
    # run_*.sh: num_env_steps=1_000_000, num_eval_episodes=50; flashSAC_base.yaml:
    # evaluation every num_interaction_steps / 10.
    assert (full.steps, full.eval_every, full.eval_episodes) == (1_000_000, 100_000, 50)
    sizes = lambda c: [(n.encoder, n.width, n.num_blocks) for n in (c.agent.actor, c.agent.critic)]
    assert sizes(full) == [("flashsac", 128, 2), ("flashsac", 256, 2)]  # agent/flashSAC.yaml
    assert sizes(small) == [("flashsac", 64, 2), ("flashsac", 128, 2)]
    assert (small.steps, small.eval_every) == (None, 10_000)  # the quick start's budget
    rest = lambda c: dataclasses.replace(c, preset="", agent=None, steps=0, eval_every=0)
    assert rest(dataclasses.replace(small, eval_episodes=50)) == rest(full)
    same = lambda a: dataclasses.replace(a, actor=None, critic=None)
    assert same(small.agent) == same(full.agent)


@pytest.mark.parametrize("suite", ["playground", "playground_dmc", "jax"])
def test_flashsac_parallel_resolves_to_the_official_gpu_settings(suite):
    cfg = _resolved("flashsac-parallel", suite)
    # scripts/run_mujoco_playground.sh: num_train_envs=1024, agent.sample_batch_size=2048,
    # updates_per_interaction_step=2, agent.buffer_max_length=10_000_000,
    # agent.buffer_min_length=100_000, num_env_steps=50_000_896, num_eval_episodes=50,
    # agent.asymmetric_observation=true, gamma=0.97 (Playground).
    assert (cfg.num_envs, cfg.batch_size, cfg.updates_per_step) == (1024, 2048, 2)
    assert (cfg.buffer_size, cfg.warmup_steps) == (10_000_000, 100_000)
    assert (cfg.steps, cfg.eval_episodes) == (50_000_896, 50)
    assert cfg.eval_every == 4_882 * 1024  # a tenth of the 48,829 vector steps
    assert cfg.asymmetric_observation and cfg.action_repeat == 1
    assert cfg.agent.discount == OFFICIAL_DISCOUNT[suite]
    cpu = preset("flashsac")
    assert cfg.algo == "flashsac" and preset("flashsac-parallel").agent == cpu.agent  # same learner


def test_a_discount_given_is_kept_and_other_presets_have_no_suite_values():
    assert _resolved("flashsac", "myosuite", agent=dataclasses.replace(
        preset("flashsac").agent, discount=0.9)).agent.discount == 0.9  # fmt: skip
    assert suite_values("simbav2", "myosuite") == {}
    simba = resolve_for_task(preset("simbav2"), _task("dmc"))
    assert simba.action_repeat == 2 and simba.agent.discount == 0.99  # the heuristic, H'=500


def test_flashsac_on_a_real_task_id_resolves_per_suite():
    cfg, task = rd.resolve(dataclasses.replace(preset("flashsac-parallel"), env="jax:PointMass"))
    assert task.suite == "jax" and cfg.agent.discount == 0.99 and cfg.action_repeat == 1
    pytest.importorskip("dm_control", reason="dm_control is not installed")
    cfg, task = rd.resolve(dataclasses.replace(preset("flashsac"), env="dmc:cartpole-swingup"))
    assert task.suite == "dmc" and (cfg.agent.discount, cfg.action_repeat) == (0.99, 1)


def test_presets_command_shows_the_flashsac_settings(capsys):
    assert main(["presets"]) == 0
    out = capsys.readouterr().out
    assert "flashsac-parallel" in out and "flashsac-small" in out
    assert "1024 envs, batch 2048, buffer 10,000,000, 100,000 random steps" in out
    assert "discount by suite: 0.99, myosuite 0.95, playground 0.97" in out
