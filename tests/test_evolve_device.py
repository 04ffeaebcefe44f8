"""``simbarl evolve`` on a ``jax:`` task: the population in the device loop.

One run through the CLI (two members of two envs each, two generations of 200
env steps per member on PointMass, vmapped, with architecture
mutations, so that the second generation trains two groups) is shared by the
tests that read its run directory; the resume test reruns it in two pieces and
must write the same rows and the same elite. The other tests drive the device
population directly: one member of it trains as ``simbarl train``'s device loop
does, and members of one group learn at their own learning rates.
"""

import dataclasses
import json

import jax
import numpy as np
import pytest
from evolve_helpers import assert_shared_data_finite, poison_member

from simbarl.cli import main
from simbarl.config import config_from_dict
from simbarl.evolve import evolve as evolve_module
from simbarl.evolve.device_loop import DevicePopulation, hypers
from simbarl.evolve.mutations import parse_probs
from simbarl.evolve.spec import EvolveSpec
from simbarl.runs import run_dir as rd
from simbarl.runs.checkpoint import read_meta
from simbarl.runs.metrics import read_metrics

POPULATION, GENERATIONS, EVO_STEPS, NUM_ENVS = 2, 2, 200, 2
STRIDE = POPULATION * NUM_ENVS
TRAIN_FLAGS = [
    *("--env", "jax:PointMass", "--seed", "0", "--warmup-steps", "100"),
    *("--num-envs", str(NUM_ENVS), "--batch-size", "64", "--updates-per-step", "1"),
    *("--agent.actor.width", "16", "--agent.critic.width", "16"),
    *("--agent.actor.num-blocks", "1", "--agent.critic.num-blocks", "1"),
    *("--no-progress", "--no-tensorboard"),
]


def _argv(run, *extra):
    return [
        "evolve",
        *("--population", str(POPULATION), "--generations", str(GENERATIONS)),
        *("--evo-steps", str(EVO_STEPS), "--fitness-episodes", "2", "--vmap", "on"),
        *("--mutation-probs", "arch=1", "--arch-widths", "16:32", "--arch-blocks", "1:2"),
        *TRAIN_FLAGS,
        *("--run-dir", str(run)),
        *extra,
    ]


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    run = tmp_path_factory.mktemp("evolve-device") / "run"
    assert main(_argv(run)) == 0
    return run


def _rows(run) -> list[dict]:
    return [json.loads(line) for line in (run / "population.jsonl").read_text().splitlines()]


def test_the_run_directory_is_the_host_populations(run):
    for name in ("population.jsonl", "metrics.jsonl", "best_config.json", "lineage.png"):
        assert (run / name).is_file(), name
    assert (run / "best" / rd.CHECKPOINT_FILE).is_file()
    meta = read_meta(run / rd.CHECKPOINT_FILE)
    assert meta["format"] == "simbarl-evolve-1" and meta["generation"] == GENERATIONS
    assert meta["replay_size"] == POPULATION * GENERATIONS * EVO_STEPS
    rows = _rows(run)
    assert [r["generation"] for r in rows] == [1, 1, 2, 2]
    assert [r["total_env_steps"] for r in rows] == [400, 400, 800, 800]
    assert all(r["fitness"] is not None and r["losses"] for r in rows)
    assert all(r["train_return"] is not None for r in rows)  # 100-step episodes ended
    metrics = [r for r in read_metrics(run) if "evolve/best_fitness" in r]
    assert [r["env_step"] for r in metrics] == [400, 800]
    # The second generation's offspring changed shape: the elite and it trained as
    # two groups in one device program.
    child = rows[3]
    assert child["mutation"].startswith("arch") and "refused" not in child["mutation"]
    assert child["architecture"] != rows[2]["architecture"]


def test_the_shared_replay_is_in_slot_order(run):
    """Slot after slot, env after env: an env's next step lies a whole population's
    envs later (the n-step stride), except where an episode ended or a generation
    restarted the envs (the last step before it marked truncated)."""
    with np.load(run / rd.CHECKPOINT_FILE) as data:
        obs, nxt = data["replay.obs"], data["replay.next_obs"]
        cut = (data["replay.truncated"] > 0) | (data["replay.terminated"] > 0)
    follows = ~cut[:-STRIDE]
    assert follows.sum() > 0.9 * len(follows)
    np.testing.assert_array_equal(nxt[:-STRIDE][follows], obs[STRIDE:][follows])
    # the generation's restart: every env's last step of generation 1 is cut
    end = EVO_STEPS * POPULATION
    assert cut[end - STRIDE : end].all()


def test_resume_continues_exactly(run, tmp_path, capsys):
    part = tmp_path / "part"
    assert main(_argv(part, "--pause-after", "1")) == 130
    assert f"simbarl evolve --resume {part}" in capsys.readouterr().err
    assert read_meta(part / rd.CHECKPOINT_FILE)["generation"] == 1
    assert main(["evolve", "--resume", str(part)]) == 0
    assert _rows(part) == _rows(run)
    with (
        np.load(part / "best" / rd.CHECKPOINT_FILE) as a,
        np.load(run / "best" / rd.CHECKPOINT_FILE) as b,
    ):
        assert a.files == b.files
        for k in a.files:
            np.testing.assert_array_equal(a[k], b[k], err_msg=k)


def test_the_elite_is_a_normal_run_directory(run):
    assert main(["eval", str(run / "best"), "--episodes", "1"]) == 0
    cfg = config_from_dict(json.loads((run / "best_config.json").read_text()))
    assert cfg.env == "jax:PointMass"


def test_a_diverged_member_ranks_last_and_keeps_nan_out_of_the_shared_data(tmp_path, monkeypatch):
    poison_member(monkeypatch)
    run = tmp_path / "run"
    assert main(_argv(run, "--pause-after", "1", "--mutation-probs", "none=1")) == 130
    first = _rows(run)
    assert first[1]["fitness"] is None and first[1]["return"] is None
    assert first[0]["elite"] and first[0]["fitness"] is not None
    assert_shared_data_finite(run)


def test_a_member_diverging_while_it_learns_stops_acting_and_ranks_last(tmp_path, monkeypatch):
    # a finite start and a learning rate of 1e30: the member's first updates blow up
    # its networks inside a scanned chunk (its actions turn NaN there, then zeros, then
    # random), and neither its replay rows nor the shared statistics take the NaN
    from simbarl.evolve import evolve as module

    new_population = module._new_population

    def reckless(*args):
        pop = new_population(*args)
        m = pop.members[1]
        agent = dataclasses.replace(m.cfg.agent, learning_rate=1e30, learning_rate_end=1e30)
        m.cfg = dataclasses.replace(m.cfg, agent=agent)
        return pop

    monkeypatch.setattr(module, "_new_population", reckless)
    run = tmp_path / "run"
    argv = _argv(run, "--pause-after", "1", "--mutation-probs", "none=1")
    assert main([*argv, "--agent.learning-rate-end", "1e-5"]) == 130
    first = _rows(run)
    assert first[1]["fitness"] is None and first[0]["fitness"] is not None
    assert_shared_data_finite(run)


def _population(tmp_path, population, vmap="on", **cfg_changes):
    """A fresh device population (not trained) and its ``DevicePopulation``."""
    from tiny_config import tiny

    spec = EvolveSpec(
        population=population,
        generations=1,
        evo_steps=EVO_STEPS,
        mutation_probs=parse_probs("none=1"),
        vmap=vmap,
        fitness_episodes=2,
    )
    cfg = tiny(
        tmp_path,
        env="jax:PointMass",
        num_envs=NUM_ENVS,
        warmup_steps=100 * population,  # every member's warm-up: 50 of its iterations
        batch_size=64,
        **cfg_changes,
    )
    # resolved as check_evolve does (which refuses a population of one: nothing to select)
    cfg, _ = rd.resolve(dataclasses.replace(cfg, steps=EVO_STEPS))
    pop = evolve_module._new_population(cfg, spec, None)
    return pop, DevicePopulation(cfg, pop.programs, population, spec.fitness_episodes)


def _generation(pop, device) -> None:
    """One generation of ``EVO_STEPS`` per member, as the engine runs it."""
    iterations = EVO_STEPS // NUM_ENVS
    quiet = pop.warmup_iters - 1
    carry, step = device.start(pop, random=True)
    carry, _ = step.chunk(carry, hypers(pop), (), quiet, length=iterations, learn=False)
    carry, _ = step.chunk(carry, hypers(pop), (), iterations - quiet, length=iterations, learn=True)
    pop.iteration += iterations
    device.finish(pop, carry)


def test_a_population_of_one_trains_as_simbarl_train_on_the_device(tmp_path):
    """The device population's step is the device loop's step, with the member's slot
    of the shared envs and replay: alone, it is ``simbarl train`` on the device (the
    same envs, keys, statistics and updates)."""
    from simbarl.train.run import train

    pop, device = _population(tmp_path, 1)
    _generation(pop, device)
    cfg = dataclasses.replace(
        pop.cfg, run_dir=str(tmp_path / "train"), eval_every=EVO_STEPS, log_every=EVO_STEPS
    )
    train(cfg)
    with np.load(tmp_path / "train" / rd.CHECKPOINT_FILE) as data:
        trained = {k: data[k] for k in data.files if k.startswith("learner")}
    flat = jax.tree_util.tree_flatten_with_path(pop.members[0].state)[0]
    ours = {"learner" + jax.tree_util.keystr(p): np.asarray(x) for p, x in flat}
    assert trained.keys() == ours.keys()
    for k, x in ours.items():
        np.testing.assert_allclose(x, trained[k], rtol=1e-5, atol=1e-6, err_msg=k)


def test_members_of_one_group_learn_at_their_own_learning_rates(tmp_path):
    """Two members of one vmapped group start alike; the second's learning rate is
    all but zero, so its actor stays where it started while the first's moves."""
    pop, device = _population(tmp_path, 2)
    still = dataclasses.replace(pop.cfg.agent, learning_rate=1e-12, learning_rate_end=1e-12)
    pop.members[1].cfg = dataclasses.replace(pop.cfg, agent=still)
    pop.members[1].state = jax.tree.map(np.array, pop.members[0].state)
    start = jax.tree.map(np.array, pop.members[0].state.actor)
    _generation(pop, device)
    assert len(device._steps) == 1  # one group: the learning rate is data
    moved = [
        max(
            float(np.abs(a - b).max())
            for a, b in zip(*map(jax.tree.leaves, (m.state.actor, start)), strict=True)
        )
        for m in pop.members
    ]
    assert moved[0] > 1e-3 and moved[1] < 1e-6, moved


def test_vmapped_members_train_as_they_would_in_groups_of_their_own(tmp_path):
    """The same population as one vmapped group and as a group per member: the same
    members to float32 rounding (a slot given another member's observations, noise
    or hyperparameters would differ at once)."""
    states = []
    for vmap in ("on", "off"):
        pop, device = _population(tmp_path / vmap, 2, vmap=vmap)
        pop.members[1].cfg = dataclasses.replace(
            pop.cfg, agent=dataclasses.replace(pop.cfg.agent, learning_rate=3e-4)
        )
        _generation(pop, device)
        assert len(next(iter(device._steps))) == (1 if vmap == "on" else 2)
        states.append([m.state for m in pop.members])
    for a, b in zip(*states, strict=True):
        jax.tree.map(lambda x, y: np.testing.assert_allclose(x, y, rtol=1e-4, atol=1e-5), a, b)
