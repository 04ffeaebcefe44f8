"""``simbarl export``: the ONNX model acts as simbarl's own policy does (every encoder,
sac and td3), the policy file exactly so, and bad input is one sentence.

The ONNX tests skip where the export extra (jax2onnx, onnx, onnxruntime) is missing;
``dev`` installs it, so CI runs them. Most runs here are crafted (a config and a
checkpoint of freshly initialized networks with made-up observation statistics), so
each case costs an export, not a training run.
"""

from __future__ import annotations

import dataclasses
import os
import re
import subprocess
import sys
import zipfile
from pathlib import Path

import jax
import numpy as np
import pytest

from simbarl import load_agent, load_policy
from simbarl.cli import USAGE, main
from simbarl.config import AgentConfig, NetworkConfig, TrainConfig
from simbarl.export.onnx_model import INPUT, OUTPUT, missing
from simbarl.runs import checkpoint
from simbarl.runs import run_dir as rd
from simbarl.runs.learner import build_agent, fresh_loop
from simbarl.runs.loop_state import COUNTERS
from simbarl.train.run import train

ROOT = Path(__file__).resolve().parents[1]
needs_onnx = pytest.mark.skipif(missing() is not None, reason=str(missing()))
# Two actions with asymmetric bounds inside the task's [-1, 1], a dict observation.
ENV, LOW, HIGH = "dmc:reacher-easy", (-0.5, -1.0), (1.0, 0.25)


def agent_config(encoder: str) -> AgentConfig:
    return AgentConfig(actor=NetworkConfig(encoder, 16, 1), critic=NetworkConfig(encoder, 16, 1))


def crafted_run(
    path: Path, algo: str = "sac", encoder: str = "simbav2", nan=False, **agent
) -> Path:
    """A run directory with a checkpoint of a fresh learner and random observation
    statistics (means around 3, standard deviations 0.2 to 5)."""
    cfg = TrainConfig(
        env=ENV,
        algo=algo,
        agent=dataclasses.replace(agent_config(encoder), **agent),
        action_low=LOW,
        action_high=HIGH,
        steps=1000,
        run_dir=str(path),
    )
    cfg, task = rd.resolve(cfg)
    rd.create(cfg)
    learner = build_agent(cfg, task.obs_dim, task.action_dim).init(jax.random.PRNGKey(1))
    if "batch_stats" in learner.actor:  # FlashSAC: running statistics far from (0, 1)
        learner = learner.replace(actor={**learner.actor, "batch_stats": _stats(learner.actor)})
    if nan:
        learner = learner.replace(actor=jax.tree.map(lambda x: x * np.nan, learner.actor))
    loop = fresh_loop(cfg, task.obs_dim, task.action_dim, cfg.seed)
    rng = np.random.default_rng(0)
    stats = loop.obs_stats.replace(
        mean=rng.normal(3.0, 1.0, task.obs_dim), var=rng.uniform(0.2, 5.0, task.obs_dim) ** 2
    )
    meta = {**dict.fromkeys(COUNTERS, 0), "env_step": 1000}
    trees = {"learner": learner, "loop": {"obs_stats": stats, "reward_scaler": loop.reward_scaler}}
    checkpoint.save(path / rd.CHECKPOINT_FILE, trees, meta)
    return path


def _stats(actor):
    """Random BatchNorm running statistics (means around 1, variances 0.1 to 4)."""
    rng = np.random.default_rng(2)

    def draw(path, x):
        value = (
            rng.uniform(0.1, 4.0, x.shape) if path[-1].key == "var" else rng.normal(1, 1, x.shape)
        )
        return np.asarray(value, np.float32)

    return jax.tree_util.tree_map_with_path(draw, actor["batch_stats"])


def observations(agent, n: int = 1000) -> np.ndarray:
    """``n`` observations around the run's statistics, some far outside them."""
    rng = np.random.default_rng(1)
    std = np.sqrt(agent.obs_stats.var)
    return (agent.obs_stats.mean + std * rng.normal(0, 3, (n, std.size))).astype(np.float32)


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """A short real run on Pendulum-v1 (torque in [-2, 2])."""
    run = tmp_path_factory.mktemp("export") / "run"
    cfg = TrainConfig(
        env="Pendulum-v1",
        steps=200,
        batch_size=16,
        updates_per_step=1,
        warmup_steps=100,
        eval_every=200,
        eval_episodes=1,
        log_every=200,
        agent=agent_config("simbav2"),
        progress=False,
        tensorboard=False,
        run_dir=str(run),
    )
    train(cfg)
    return run


def test_policy_file_acts_exactly_as_the_agent(trained, tmp_path, capsys):
    out = tmp_path / "policy.npz"
    assert main(["export", str(trained), "--policy", str(out)]) == 0
    assert "simbarl.load_policy" in capsys.readouterr().out
    agent, policy = load_agent(trained), load_policy(out)
    obs = observations(agent)
    np.testing.assert_array_equal(policy.act(obs), agent.act(obs, env_units=True))
    np.testing.assert_array_equal(policy.act(obs, env_units=False), agent.act(obs))
    np.testing.assert_array_equal(policy.act(obs[0]), agent.act(obs[0], env_units=True))
    # a sample with the same key is the agent's sample
    np.testing.assert_array_equal(
        policy.act(obs, deterministic=False), agent.act(obs, False, env_units=True)
    )
    assert [list(b) for b in policy.bounds] == [[-2.0], [2.0]]
    assert policy.meta["env"] == "Pendulum-v1" and policy.env_step == agent.env_step
    assert policy.meta["observation_layout"].endswith("shape (3,)")
    # actor, normalization, bounds and meta only: no replay, critic or optimizer state
    with zipfile.ZipFile(out) as z:
        names = {n.split("[")[0].removesuffix(".npy") for n in z.namelist()}
    assert names == {"actor", "norm", "bounds", "__meta__"}
    assert out.stat().st_size < (trained / rd.CHECKPOINT_FILE).stat().st_size / 5


def test_policy_file_refuses_what_it_cannot_read(trained, tmp_path):
    with pytest.raises(ValueError, match="not a simbarl policy file .a run's checkpoint"):
        load_policy(trained / rd.CHECKPOINT_FILE)
    out = tmp_path / "policy.npz"
    assert main(["export", str(trained), "--policy", str(out)]) == 0
    out.write_bytes(out.read_bytes()[:1000])
    with pytest.raises(ValueError, match="policy file .* is damaged .* export it again"):
        load_policy(out)
    with pytest.raises(ValueError, match="is not a file"):
        load_policy(tmp_path / "none.npz")


@needs_onnx
@pytest.mark.parametrize(
    ("algo", "encoder"),
    [(a, e) for a in ("sac", "td3") for e in ("simbav2", "simba", "mlp")]
    + [("flashsac", "flashsac")],  # eval-mode BatchNorm with its running statistics
)
def test_onnx_model_acts_as_simbarl_does(tmp_path, algo, encoder):
    import onnxruntime

    run = crafted_run(tmp_path / "run", algo, encoder)
    out = tmp_path / "policy.onnx"
    assert main(["export", str(run), "--onnx", str(out)]) == 0
    agent = load_agent(run)
    session = onnxruntime.InferenceSession(str(out), providers=["CPUExecutionProvider"])
    (given,), (taken,) = session.get_inputs(), session.get_outputs()
    assert (given.name, given.type, given.shape[1]) == (INPUT, "tensor(float)", 6)
    assert (taken.name, taken.type, taken.shape[1]) == (OUTPUT, "tensor(float)", 2)
    assert isinstance(given.shape[0], str)  # a dynamic batch dimension
    obs = observations(agent)
    want = agent.act(obs, env_units=True)
    np.testing.assert_allclose(session.run([OUTPUT], {INPUT: obs})[0], want, rtol=0, atol=1e-5)
    one = session.run([OUTPUT], {INPUT: obs[:1]})[0]
    np.testing.assert_allclose(one, want[:1], rtol=0, atol=1e-5)
    assert np.all(want >= np.array(LOW) - 1e-6) and np.all(want <= np.array(HIGH) + 1e-6)
    props = session.get_modelmeta().custom_metadata_map
    assert props["env"] == ENV and (props["algo"], props["encoder"]) == (algo, encoder)
    assert (props["obs_dim"], props["action_dim"], props["env_step"]) == ("6", "2", "1000")
    assert props["action_low"] == "[-0.5, -1.0]" and props["action_high"] == "[1.0, 0.25]"
    assert props["action_repeat"] == "2" and props["simbarl_version"]
    layout = "position[0:2] to_target[2:4] velocity[4:6]"
    assert props["observation_layout"].endswith(layout)
    if algo == "flashsac":  # the policy file keeps the running statistics too
        assert main(["export", str(run), "--policy", str(tmp_path / "p.npz")]) == 0
        np.testing.assert_array_equal(load_policy(tmp_path / "p.npz").act(obs), want)


@needs_onnx
def test_the_docs_control_loop_runs_without_simbarl_or_jax(trained, tmp_path):
    """The guide's control loop, in a Python that cannot import simbarl, JAX or flax,
    drives Pendulum-v1 with the exported model."""
    assert main(["export", str(trained), "--onnx", str(tmp_path / "policy.onnx")]) == 0
    page = (ROOT / "docs" / "guides" / "deploy.md").read_text()
    marker = page.index("<!-- tested: onnx control loop -->")
    code = re.search(r"```python\n(.*?)```", page[marker:], re.S).group(1)
    (tmp_path / "loop.py").write_text(code)
    blocker = (
        "import importlib.abc, sys\n"
        "class Block(importlib.abc.MetaPathFinder):\n"
        "    def find_spec(self, name, path=None, target=None):\n"
        "        if name.partition('.')[0] in ('simbarl', 'jax', 'jaxlib', 'flax'):\n"
        "            raise ImportError(f'{name} is blocked in this test')\n"
        "sys.meta_path.insert(0, Block())\n"
        "exec(compile(open('loop.py').read(), 'loop.py', 'exec'), {'__name__': '__main__'})\n"
        "assert not {'simbarl', 'jax', 'flax'} & set(sys.modules)\n"
    )
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    done = subprocess.run(
        [sys.executable, "-I", "-c", blocker],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert re.search(r"return -?\d+\.\d", done.stdout), done.stdout


@needs_onnx
def test_bfloat16_runs_export_a_policy_file_not_an_onnx_model(tmp_path, capsys):
    run = crafted_run(tmp_path / "run", matmul_dtype="bfloat16")
    assert main(["export", str(run), "--onnx", str(tmp_path / "p.onnx")]) == 2
    assert "multiply in bfloat16" in capsys.readouterr().err
    assert main(["export", str(run), "--policy", str(tmp_path / "p.npz")]) == 0
    obs = observations(load_agent(run))
    want = load_agent(run).act(obs, env_units=True)
    np.testing.assert_array_equal(load_policy(tmp_path / "p.npz").act(obs), want)


@needs_onnx
def test_a_policy_file_exports_to_onnx(trained, tmp_path):
    policy_file, model = tmp_path / "policy.npz", tmp_path / "policy.onnx"
    assert main(["export", str(trained), "--policy", str(policy_file)]) == 0
    assert main(["export", str(policy_file), "--onnx", str(model)]) == 0
    assert model.stat().st_size > 0


def test_bad_input_is_one_sentence(trained, tmp_path, capsys):
    def error(*argv) -> str:
        assert main(["export", *map(str, argv)]) == 2
        err = capsys.readouterr().err.strip()
        assert err.startswith("simbarl export: error: ") and len(err.splitlines()) == 1, err
        return err

    out = tmp_path / "policy.npz"
    assert "nothing to export" in error(trained)
    assert "not a simbarl run directory" in error(tmp_path / "none", "--policy", out)
    cfg, _ = rd.resolve(TrainConfig(env="Pendulum-v1", run_dir=str(tmp_path / "empty")))
    rd.create(cfg)
    assert "has no checkpoint.npz" in error(tmp_path / "empty", "--policy", out)
    group = dict(env="Pendulum-v1", vmap_seeds=2, run_dir=str(tmp_path / "group"))
    rd.create(rd.resolve(TrainConfig(**group))[0])
    for seed in ("seed0", "seed1"):
        (tmp_path / "group" / seed).mkdir()
    err = error(tmp_path / "group", "--policy", out)
    assert "2 --vmap-seeds runs" in err and str(tmp_path / "group" / "seed1") in err
    crafted_run(tmp_path / "diverged", nan=True)
    assert "diverged" in error(tmp_path / "diverged", "--policy", out)
    assert not out.exists()
    # an existing file is kept unless --force
    out.write_text("keep me")
    assert "exists: pass --force" in error(trained, "--policy", out)
    assert out.read_text() == "keep me"
    assert main(["export", str(trained), "--policy", str(out), "--force"]) == 0
    assert load_policy(out).env_step == 200
    assert "directory" in error(trained, "--policy", tmp_path)


def test_onnx_without_the_extra_says_how_to_install_it(trained, tmp_path, capsys, monkeypatch):
    import importlib.util

    find_spec = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util,
        "find_spec",
        lambda name, *a: None if name == "jax2onnx" else find_spec(name, *a),
    )
    assert main(["export", str(trained), "--onnx", str(tmp_path / "p.onnx")]) == 2
    err = capsys.readouterr().err
    if sys.version_info >= (3, 11):
        assert "needs jax2onnx: install them with pip install 'simbarl[export]'" in err
    else:
        assert "Python 3.11" in err
    assert not (tmp_path / "p.onnx").exists()


def test_export_is_in_the_readme_the_guide_and_the_usage():
    assert "| `simbarl export` |" in (ROOT / "README.md").read_text()
    assert "guides/deploy.md" in (ROOT / "mkdocs.yml").read_text()
    assert "  export  " in USAGE
