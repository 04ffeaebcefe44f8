"""A trained policy as an ONNX model, for runtimes without simbarl or JAX.

The graph is ``runs.learner.policy``, the one policy function every loop and
``Agent.act`` use, traced by jax2onnx with the run's observation normalization,
actor weights and action bounds as constants: input ``obs`` float32
``[batch, obs_dim]`` (raw env observations), output ``action`` float32
``[batch, action_dim]`` in the task's units, the deterministic action (SAC's
``tanh(mean)``, TD3's ``pi(s)``). Before the file is written the model is run
with onnxruntime on observations around the run's statistics and compared with
simbarl's own policy.
"""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path

import numpy as np

from simbarl.files import atomic_open
from simbarl.runs.learner import policy as policy_fn
from simbarl.runs.policy_file import Policy

INPUT, OUTPUT = "obs", "action"
# An opset older runtimes support too (jax2onnx's default is 23); the three encoders
# export to it and agree with simbarl (tested with onnxruntime 1.32).
OPSET = 17
PACKAGES = ("jax2onnx", "onnx", "onnxruntime")
INSTALL = "pip install 'simbarl[export]' (in a clone: pip install -e '.[export]')"
CHECK_OBSERVATIONS = 1000
# Largest |ONNX - simbarl| action allowed, per unit of the bounds' magnitude: float32
# rounding of a differently ordered sum is ~1e-7 of it.
TOLERANCE = 1e-5


def missing() -> str | None:
    """Why ONNX export cannot run here, in one sentence, or None."""
    if sys.version_info < (3, 11):
        return "ONNX export needs Python 3.11 or newer (jax2onnx supports no older Python)"
    absent = [name for name in PACKAGES if importlib.util.find_spec(name) is None]
    if absent:
        return f"ONNX export needs {', '.join(absent)}: install them with {INSTALL}"
    return None


def contract(policy: Policy) -> dict[str, str]:
    """The model's metadata (``metadata_props``): the input and output, the task and
    the run, as strings."""
    meta, (low, high) = policy.meta, policy.bounds
    return {
        "input": f"{INPUT}: float32 [batch, {policy.obs_dim}], raw observations of the env",
        "output": (
            f"{OUTPUT}: float32 [batch, {policy.action_dim}], the deterministic action in "
            "the task's units (action_low..action_high)"
        ),
        "env": meta["env"],
        "obs_dim": str(policy.obs_dim),
        "action_dim": str(policy.action_dim),
        "action_low": json.dumps([float(x) for x in low]),
        "action_high": json.dumps([float(x) for x in high]),
        "action_repeat": str(meta["action_repeat"]),
        "observation_layout": meta["observation_layout"],
        "algo": meta["algo"],
        "encoder": meta["encoder"],
        "env_step": str(meta["env_step"]),
        "simbarl_version": meta["simbarl_version"],
    }


def onnx_model(policy: Policy):
    """The ``onnx.ModelProto`` of ``policy``'s deterministic action in the task's units,
    with a dynamic batch dimension and ``contract(policy)`` as its metadata."""
    import onnx
    from jax2onnx import to_onnx

    def act(obs):  # (batch, obs_dim) -> (batch, action_dim)
        return policy_fn(policy.learner_def, policy.actor, obs, policy.norm, None, policy.bounds)

    model = to_onnx(
        act,
        [("batch", policy.obs_dim)],
        input_names=[INPUT],
        output_names=[OUTPUT],
        model_name="simbarl_policy",
        opset=OPSET,
    )
    onnx.helper.set_model_props(model, contract(policy))
    model.doc_string = (
        f"simbarl policy of {policy.meta['env']}: {contract(policy)['input']} -> "
        f"{contract(policy)['output']}"
    )
    return model


def difference(model, policy: Policy, n: int = CHECK_OBSERVATIONS, seed: int = 0) -> float:
    """Largest |action| difference between the model in onnxruntime and ``policy.act``
    on ``n`` observations drawn around the run's observation statistics."""
    import onnxruntime

    rng = np.random.default_rng(seed)
    noise = rng.standard_normal((n, policy.obs_dim)) * 2.0
    obs = (policy.norm.obs_mean + policy.norm.obs_std * noise).astype(np.float32)
    session = onnxruntime.InferenceSession(
        model.SerializeToString(), providers=["CPUExecutionProvider"]
    )
    got = session.run([OUTPUT], {INPUT: obs})[0]
    return float(np.max(np.abs(got - policy.act(obs))))


def write_onnx(policy: Policy, path: str | Path) -> float:
    """Export ``policy`` to ``path`` once onnxruntime agrees with simbarl on
    ``CHECK_OBSERVATIONS`` observations; returns the largest difference."""
    path = Path(path)
    if policy.config.agent.matmul_dtype != "float32":
        raise ValueError(
            f"this run's networks multiply in {policy.config.agent.matmul_dtype} "
            "(--agent.matmul-dtype), which the ONNX export does not reproduce (its products "
            "are float32, actions differ by about 1e-3): export --policy instead"
        )
    model = onnx_model(policy)
    diff = difference(model, policy)
    scale = max(1.0, float(np.max(np.abs(np.concatenate(policy.bounds)))))
    if not diff <= TOLERANCE * scale:
        raise ValueError(
            f"the ONNX model's actions differ from simbarl's by up to {diff:.3g} on "
            f"{CHECK_OBSERVATIONS} observations (allowed: {TOLERANCE * scale:.1g}), so "
            f"{path} was not written: please report it with the run's config.json"
        )
    try:
        with atomic_open(path, "wb") as f:
            f.write(model.SerializeToString())
    except OSError as e:
        raise ValueError(f"cannot write {path} ({e.strerror or e})") from e
    return diff
