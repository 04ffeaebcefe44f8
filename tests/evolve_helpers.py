"""Tiny learners for the evolution tests: built, not trained, with random moments."""

import jax
import jax.numpy as jnp
import numpy as np

from simbarl.config import AgentConfig, NetworkConfig, TrainConfig, resolve_algo
from simbarl.evolve.resize import is_hyper_kernel, key_names
from simbarl.runs.learner import build_agent

OBS_DIM, ACT_DIM = 5, 2


def tiny_cfg(encoder="simbav2", algo="sac", width=32, blocks=1, **kw) -> TrainConfig:
    """A resolved config of small networks (actor and critic alike)."""
    net = NetworkConfig(encoder, width, blocks)
    agent = AgentConfig(actor=net, critic=net, discount=0.99, num_bins=11)
    agent = resolve_algo(algo, agent, True)
    base = dict(algo=algo, agent=agent, steps=1000, warmup_steps=100, action_repeat=1, num_envs=1)
    base.update(kw)
    return TrainConfig(**base)


def with_net(cfg: TrainConfig, net: str, **change) -> TrainConfig:
    import dataclasses

    new = dataclasses.replace(getattr(cfg.agent, net), **change)
    return dataclasses.replace(cfg, agent=dataclasses.replace(cfg.agent, **{net: new}))


def agent_for(cfg: TrainConfig):
    return build_agent(cfg, OBS_DIM, ACT_DIM)


def trained_like(agent, seed=0):
    """A state of ``agent``'s shapes with random weights (SimbaV2 kernels on the
    sphere), random Adam moments and nonzero counts, so that carrying them over is
    visible. Drawn with numpy from the state's shapes: nothing to compile."""
    rng = np.random.default_rng(seed)
    shapes = jax.eval_shape(agent.init, jax.random.PRNGKey(seed))

    def draw(path, x):
        names = key_names(path)
        if names[-1] == "count" or x.dtype == jnp.int32:
            return jnp.full(x.shape, 7, x.dtype)
        if x.dtype == jnp.uint32:  # the learner's RNG key
            return jax.random.PRNGKey(seed)
        w = rng.normal(size=x.shape)
        if "nu" in names:
            w = np.abs(w)
        elif is_hyper_kernel(names) and agent.cfg.weight_projection:
            w = w / np.linalg.norm(w, axis=-2, keepdims=True)
        return jnp.asarray(w, x.dtype)

    return jax.tree_util.tree_map_with_path(draw, shapes)


def flat(tree) -> dict:
    return {key_names(p): x for p, x in jax.tree_util.tree_flatten_with_path(tree)[0]}


def assert_shared_data_finite(run_dir) -> None:
    """The population checkpoint's shared replay and statistics hold no NaN or inf."""
    from simbarl.runs import run_dir as rd

    with np.load(run_dir / rd.CHECKPOINT_FILE) as data:
        shared = [k for k in data.files if k.startswith(("replay", "stats"))]
        assert shared and all(np.isfinite(data[k]).all() for k in shared)


def poison_member(monkeypatch, index: int = 1) -> None:
    """Member ``index`` of every population evolve builds starts with a NaN actor."""
    from simbarl.evolve import evolve as evolve_module

    new_population = evolve_module._new_population

    def poisoned(*args):
        pop = new_population(*args)
        member = pop.members[index]
        nan = lambda x: x * np.nan if np.issubdtype(x.dtype, np.floating) else x
        member.state = member.state.replace(actor=jax.tree.map(nan, member.state.actor))
        return pop

    monkeypatch.setattr(evolve_module, "_new_population", poisoned)
