"""``simbarl evolve``: a population of two tiny learners on Pendulum-v1, one shared replay.

One run through the CLI (two generations of 200 env steps per member, with
architecture and hyperparameter mutations) is shared by the tests that read
its run directory; the resume test reruns it in three pieces and must write the
same ``population.jsonl``.
"""

import json

import jax
import numpy as np
import pytest
from evolve_helpers import assert_shared_data_finite, poison_member
from tiny_config import tiny

from simbarl.cli import main
from simbarl.config import config_from_dict, config_to_dict, parse_config, preset
from simbarl.evolve.evolve import evolve, resume_evolve
from simbarl.evolve.mutations import parse_probs
from simbarl.evolve.spec import EvolveSpec, load_ranges, selection_score
from simbarl.runs import run_dir as rd
from simbarl.runs.checkpoint import read_meta
from simbarl.runs.metrics import read_metrics
from simbarl.train import session as session_module
from simbarl.train.command import start_config
from simbarl.train.stop import StopFlag

POPULATION, GENERATIONS, EVO_STEPS = 2, 2, 200
SPACE = {
    "params": [
        {"name": "batch_size", "type": "int", "low": 16, "high": 128},
        {"name": "agent.learning_rate", "type": "float", "low": 1e-5, "high": 1e-2, "log": True},
    ]
}
TRAIN_FLAGS = [
    *("--env", "Pendulum-v1", "--seed", "0", "--warmup-steps", "100"),
    *("--batch-size", "32", "--updates-per-step", "1"),
    *("--agent.actor.width", "32", "--agent.critic.width", "32"),
    *("--agent.critic.num-blocks", "1", "--no-progress", "--no-tensorboard"),
]


def _argv(run, space, *extra):
    return [
        "evolve",
        *("--population", str(POPULATION), "--generations", str(GENERATIONS)),
        *("--evo-steps", str(EVO_STEPS), "--fitness-episodes", "1"),
        *("--mutation-probs", "arch=1,hp=1", "--space", str(space)),
        *("--arch-widths", "16:64", "--arch-blocks", "1:2"),
        *TRAIN_FLAGS,
        *("--run-dir", str(run)),
        *extra,
    ]


@pytest.fixture(scope="module")
def space(tmp_path_factory):
    path = tmp_path_factory.mktemp("space") / "space.json"
    path.write_text(json.dumps(SPACE))
    return path


@pytest.fixture(scope="module")
def run(tmp_path_factory, space):
    """The uninterrupted run."""
    run = tmp_path_factory.mktemp("evolve") / "run"
    assert main(_argv(run, space)) == 0
    return run


def _rows(run) -> list[dict]:
    return [json.loads(line) for line in (run / "population.jsonl").read_text().splitlines()]


def test_every_member_writes_into_one_shared_replay(run):
    meta = read_meta(run / rd.CHECKPOINT_FILE)
    # Pendulum has action repeat 1: one transition per env step, every member's.
    assert meta["replay_size"] == POPULATION * GENERATIONS * EVO_STEPS
    assert meta["generation"] == GENERATIONS
    # Round-robin layout (one vector env of POPULATION envs): slot k's next step sits
    # POPULATION slots later, as the n-step windows assume.
    with np.load(run / rd.CHECKPOINT_FILE) as data:
        obs, nxt = data["replay.obs"], data["replay.next_obs"]
        cut = (data["replay.truncated"] > 0) | (data["replay.terminated"] > 0)
    follows = ~cut[:-POPULATION]
    np.testing.assert_array_equal(nxt[:-POPULATION][follows], obs[POPULATION:][follows])
    rows = _rows(run)
    assert [r["generation"] for r in rows] == [1, 1, 2, 2]
    assert [r["total_env_steps"] for r in rows] == [400, 400, 800, 800]
    assert {r["env_steps"] for r in rows if r["generation"] == 2} == {2 * EVO_STEPS}
    metrics = [r for r in read_metrics(run) if "evolve/best_fitness" in r]
    assert [r["env_step"] for r in metrics] == [400, 800]
    best = [max(r["fitness"] for r in rows if r["generation"] == g) for g in (1, 2)]
    assert [r["evolve/best_fitness"] for r in metrics] == best


def test_the_best_fitness_rises_with_this_seed(run):
    """A fixed-seed regression check, not a statistical claim: two generations of 200
    env steps are far too few for Pendulum to learn reliably (test_train's learning
    test takes 5000), and each generation plays other episodes, so nothing guarantees
    a rise. With seed 0 the elite of generation 1 (which goes on unchanged) and its
    offspring reach a better best fitness in generation 2; a driver that lost the
    elite's weights, or trained a member on another's data, would change this."""
    best = [r["evolve/best_fitness"] for r in read_metrics(run) if "evolve/best_fitness" in r]
    assert len(best) == GENERATIONS and best[-1] > best[0], best


def test_selection_keeps_the_elite_and_mutates_the_offspring(run):
    first, second = _rows(run)[:POPULATION], _rows(run)[POPULATION:]
    elite = max(first, key=lambda r: r["fitness"])
    assert elite["elite"]
    assert second[0]["id"] == elite["id"] and second[0]["mutation"] == "none (elite)"
    assert second[0]["hyperparameters"] == elite["hyperparameters"]
    child = second[1]
    assert child["id"] == POPULATION and child["parent"] in (0, 1)
    # With this seed the offspring's mutation changes its shape or a hyperparameter.
    kind = child["mutation"].split(":")[0]
    assert kind in ("arch", "hp") and "refused" not in child["mutation"], child["mutation"]
    parent = first[child["parent"]]
    changed = (child["architecture"], child["hyperparameters"]) != (
        parent["architecture"],
        parent["hyperparameters"],
    )
    assert changed


class _StopDuringGeneration2(StopFlag):
    """A Ctrl-C in the middle of the second generation (the stop flag is read once
    per population step); no signal handlers."""

    def __init__(self):
        super().__init__()
        self.reads = 0

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return None

    @property
    def requested(self):
        self.reads += 1
        return self.reads > EVO_STEPS // 2

    @requested.setter
    def requested(self, value):
        pass


def test_resume_continues_exactly(run, space, tmp_path, monkeypatch, capsys):
    part = tmp_path / "part"
    assert main(_argv(part, space, "--pause-after", "1")) == 130
    assert f"simbarl evolve --resume {part}" in capsys.readouterr().err
    assert read_meta(part / rd.CHECKPOINT_FILE)["generation"] == 1
    # The elite goes on unchanged: generation 2's first member is RUN/best, bit for bit.
    with (
        np.load(part / rd.CHECKPOINT_FILE) as ckpt,
        np.load(part / "best" / "checkpoint.npz") as best,
    ):
        learner = [k for k in best.files if k.startswith("learner")]
        assert learner
        for k in learner:
            np.testing.assert_array_equal(ckpt[k.replace("learner", "member0", 1)], best[k])
    with monkeypatch.context() as m:  # Ctrl-C: the generation in flight is abandoned
        m.setattr(session_module, "StopFlag", _StopDuringGeneration2)
        stopped = resume_evolve(part)
    assert stopped.interrupted and stopped.generation == 1
    assert read_meta(part / rd.CHECKPOINT_FILE)["generation"] == 1
    assert main(["evolve", "--resume", str(part), "--population", "3"]) == 2
    assert "keeps its settings" in capsys.readouterr().err
    assert main(["evolve", "--resume", str(part)]) == 0
    assert _rows(part) == _rows(run)
    steps = lambda d: [r["env_step"] for r in read_metrics(d) if "evolve/best_fitness" in r]
    assert steps(part) == steps(run)
    with (
        np.load(part / "best" / rd.CHECKPOINT_FILE) as a,
        np.load(run / "best" / "checkpoint.npz") as b,
    ):
        assert a.files == b.files
        for k in a.files:
            np.testing.assert_array_equal(a[k], b[k], err_msg=k)


def test_the_elite_is_a_normal_run_directory(run, capsys):
    from simbarl.runs.learner import build_agent, fresh_loop
    from simbarl.runs.load import load_agent
    from simbarl.train.evaluate import evaluate
    from simbarl.train.warm_start import init_config, online_preset, warm_start

    best = run / "best"
    agent = load_agent(best)
    elite = [r for r in _rows(run) if r["generation"] == GENERATIONS and r["elite"]][0]
    assert agent.config.agent.actor.width == elite["architecture"]["actor"]["width"]
    assert agent.config.batch_size == elite["hyperparameters"]["batch_size"]
    result = evaluate(agent.make_env(), agent.act, 1, seed=0)
    assert np.isfinite(result.returns).all()
    assert main(["eval", str(best), "--episodes", "1"]) == 0
    # simbarl train --init-from: the elite's weights fit the learner built from it.
    cfg, task = rd.resolve(init_config(best, preset(online_preset(best))))
    fresh = build_agent(cfg, task.obs_dim, task.action_dim)
    learner = fresh.init(jax.random.PRNGKey(0))
    loop = fresh_loop(cfg, task.obs_dim, task.action_dim, 0)
    warmed, _ = warm_start(cfg, learner, loop)
    np.testing.assert_array_equal(
        jax.tree.leaves(warmed.actor)[0], jax.tree.leaves(agent.learner.actor)[0]
    )


def test_best_config_is_accepted_by_train_and_sweep(run):
    path = run / "best_config.json"
    cfg = start_config(config_file=str(path))  # what simbarl train --config reads
    assert cfg == config_from_dict(
        {**config_to_dict(rd.load_config(run / "best")), "run_dir": None}
    )
    _, d = parse_config(str(path))  # simbarl sweep --config
    assert d["agent"] == config_to_dict(cfg)["agent"]


def _spec(**kw) -> EvolveSpec:
    base = dict(population=2, generations=1, evo_steps=100, mutation_probs=parse_probs("none=1"))
    return EvolveSpec(**{**base, **kw})


@pytest.mark.parametrize(
    ("spec", "cfg", "message"),
    [
        (dict(population=1), {}, "at least 2 members"),
        (dict(tournament_size=3), {}, "larger than the population 2"),
        (dict(generations=0), {}, "--generations must be at least 1"),
        (dict(mutation_probs={"grow": 1.0}), {}, "unknown mutation kinds"),
        (dict(mutation_probs={"none": 0.0}), {}, "at least one above 0"),
        (dict(evo_steps=101), {"env": "dmc:cartpole-swingup"}, "not a multiple"),
        (
            dict(ranges={"agent.momentum": (0.1, 0.9)}, mutation_probs={"hp": 1.0}),
            {},
            "agent.momentum: not a hyperparameter evolution mutates",
        ),
        (
            dict(ranges={"agent.learning_rate": (1e-3, 1e-2)}, mutation_probs={"hp": 1.0}),
            {},
            r"start value 0.0001 lies outside \[0.001, 0.01\]",
        ),
        ({}, {"vmap_seeds": 2}, "--vmap-seeds"),
        ({}, {"env": "jax:PointMass", "devices": 2}, "trains on one device"),
        ({}, {"overlap": True}, "--overlap"),
    ],
)
def test_bad_input_is_refused_before_any_work(tmp_path, spec, cfg, message):
    cfg = tiny(tmp_path, env=cfg.pop("env", "Pendulum-v1"), **cfg)
    with pytest.raises(ValueError, match=message):
        evolve(cfg, _spec(**spec))
    assert not (tmp_path / "run").exists()


def test_the_default_generation_is_whole_agent_steps(tmp_path):
    from simbarl.evolve.command import whole_steps

    # 3 envs x DMC's action repeat 2: 10,000 env steps round up to 10,002
    assert whole_steps(10_000, tiny(tmp_path, num_envs=3)) == 10_002
    assert whole_steps(10_000, tiny(tmp_path, env="Pendulum-v1", num_envs=4)) == 10_000


def test_evolve_runs_no_dynamics_probe(tmp_path):
    # --analyze-every has no meaning for a population: a probe due inside a generation
    # asked the population engine for inputs it does not have and stopped the run
    cfg = tiny(tmp_path, env="Pendulum-v1", warmup_steps=50, batch_size=16, analyze_every=50)
    result = evolve(cfg, _spec(evo_steps=200))
    assert result.generation == 1 and not result.interrupted


def test_a_space_evolve_cannot_scale_is_refused(tmp_path, capsys):
    space = tmp_path / "space.json"
    space.write_text(
        json.dumps(
            {"params": [{"name": "batch_size", "type": "categorical", "choices": [64, 128]}]}
        )
    )
    with pytest.raises(ValueError, match="cannot be scaled"):
        load_ranges(space)
    run = tmp_path / "run"
    assert main(["evolve", "--space", str(space), "--run-dir", str(run)]) == 2
    assert "cannot be scaled" in capsys.readouterr().err
    assert main(["evolve", "--mutation-probs", "grow=1", "--run-dir", str(run)]) == 2
    assert (
        main(["evolve", "--population", "4", "--tournament-size", "5", "--run-dir", str(run)]) == 2
    )
    assert "larger than the population" in capsys.readouterr().err
    assert not run.exists()
    assert main(["evolve", "--resume", str(run)]) == 2  # not an evolve run
    assert "does not exist" in capsys.readouterr().err


def test_fitness_last_or_mean_of_the_last_k_generations():
    history = [-300.0, -200.0, -100.0]
    assert selection_score(history, _spec()) == -100.0
    assert selection_score(history, _spec(fitness="mean-last-k", fitness_k=2)) == -150.0
    assert selection_score(history[:1], _spec(fitness="mean-last-k", fitness_k=3)) == -300.0
    assert np.isnan(selection_score([-1.0, float("nan")], _spec(fitness="mean-last-k")))
    assert np.isnan(selection_score([], _spec()))


def test_a_diverged_member_ranks_last_and_keeps_nan_out_of_the_shared_data(
    space, tmp_path, monkeypatch
):
    poison_member(monkeypatch)
    run = tmp_path / "run"
    argv = _argv(run, space, "--pause-after", "1", "--mutation-probs", "none=1")
    assert main(argv) == 130
    first = _rows(run)
    assert first[1]["fitness"] is None and first[1]["return"] is None
    assert first[0]["elite"] and first[0]["fitness"] is not None
    assert_shared_data_finite(run)
    assert read_meta(run / rd.CHECKPOINT_FILE)["replay_size"] == POPULATION * EVO_STEPS


def test_the_run_draws_the_elite_lineage(run, capsys):
    assert (run / "lineage.png").stat().st_size > 1000 and (run / "lineage.svg").is_file()
    (run / "lineage.png").unlink()
    assert main(["evolve", "--lineage", str(run)]) == 0
    assert (run / "lineage.png").is_file() and "lineage:" in capsys.readouterr().out


def test_the_lineage_follows_parents_back_through_the_generations(tmp_path, capsys):
    from simbarl.evolve.lineage import elite_lineage, read_rows

    def row(g, id, parent, fitness, elite=False):
        return {"generation": g, "id": id, "parent": parent, "fitness": fitness, "elite": elite}

    rows = [
        row(1, 0, None, 5.0, True),
        row(1, 1, None, 1.0),
        row(2, 0, None, 6.0),
        row(2, 2, 0, 7.0, True),  # 2: an offspring of 0
        row(3, 2, 0, 7.5),
        row(3, 3, 2, 9.0, True),  # 3: an offspring of 2, now elite
    ]
    (tmp_path / "population.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    path = elite_lineage(read_rows(tmp_path))
    assert [(r["generation"], r["id"]) for r in path] == [(1, 0), (2, 2), (3, 3)]
    assert main(["evolve", "--lineage", str(tmp_path / "missing")]) == 2
    assert "population.jsonl does not exist" in capsys.readouterr().err


def test_the_learning_rate_schedule_spans_the_learning_after_the_shared_warmup(tmp_path):
    """Four members share a 200-step warm-up, so each learns after 50 of its own
    steps: its schedule spans the rest of its steps, not all but 200 of them."""
    from simbarl.evolve.groups import GroupPrograms
    from simbarl.runs.learner import build_agent

    cfg, task = rd.resolve(tiny(tmp_path, env="Pendulum-v1", steps=1000, warmup_steps=200))
    alone = build_agent(cfg, task.obs_dim, task.action_dim)
    member = GroupPrograms(task.obs_dim, task.action_dim, stride=4)(cfg).agent
    assert alone.total_updates == 1000 - 200
    assert member.total_updates == 1000 - 50
