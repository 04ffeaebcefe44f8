"""Write tests/fixtures/flashsac_parity.npz from the official FlashSAC code (PyTorch).

Run in a separate environment that has torch, numpy, gymnasium, jax (``flash_rl.types``
imports it), omegaconf, and the official repository (Holiday-Robot/FlashSAC @87edc90,
unmodified) importable, e.g.::

    python3 -m venv /work/venv-torch
    /work/venv-torch/bin/pip install torch numpy gymnasium "jax[cpu]" omegaconf
    # the repository has no installable layout (it is run from its root): put it on the path
    echo /path/to/flashsac > /work/venv-torch/lib/python3.11/site-packages/flashsac.pth
    TORCHDYNAMO_DISABLE=1 /work/venv-torch/bin/python benchmarks/flashsac_parity_fixture.py

It builds the official actor, double critic, target critic and temperature at tiny
sizes with the official constructor (``_init_flashsac_networks``: orthogonal init,
projection, cosine LambdaLR schedules) and runs ``UPDATES`` official updates
(``_update_networks``, fp32, no AMP, no compile) on fixed batches, the actor stepping
on even updates. The standard normal draws of the policy's ``rsample`` are taken
from a seeded numpy stream and recorded. Saved (float32, compressed): the batches and
draws; every network's state_dict (parameters and BatchNorm buffers, torch names and
layouts) before and after every update; the first update's gradients; each update's
metrics and learning rates; forward outputs of the initial networks in both modes; and
a reward-normalizer sequence. ``tests/test_flashsac_parity.py`` replays it in JAX.
"""

from __future__ import annotations

import copy
import math
import os
import sys
from pathlib import Path

os.environ.setdefault("TORCHDYNAMO_DISABLE", "1")  # no compiler needed; same arithmetic

import numpy as np  # noqa: E402
import torch  # noqa: E402
import torch.distributions.normal as torch_normal  # noqa: E402
from flash_rl.agents.flashSAC.agent import (  # noqa: E402
    FlashSACConfig,
    _init_flashsac_networks,
    _update_networks,
)
from flash_rl.agents.utils.reward_normalization import RewardNormalizer  # noqa: E402

OBS, ACT, B = 3, 2, 8
ACTOR = (2, 8)  # blocks, width
CRITIC = (2, 16)
UPDATES = 3  # actor steps on 0 and 2
TOTAL_UPDATES = 20  # the schedules' span: the cosine moves visibly within 3 updates
GAMMA, TAU, TEMP0, TARGET_STD = 0.99, 0.01, 0.1, 0.15
OUT = Path(__file__).resolve().parents[1] / "tests" / "fixtures" / "flashsac_parity.npz"


def config() -> FlashSACConfig:
    target_entropy = 0.5 * ACT * math.log(2 * math.pi * math.e * TARGET_STD**2)
    return FlashSACConfig(
        seed=0,
        normalize_reward=False,
        normalized_G_max=5.0,
        asymmetric_observation=False,
        device_type="cpu",
        buffer_max_length=100,
        buffer_min_length=1,
        buffer_device_type="cpu",
        sample_batch_size=B,
        learning_rate_init=3e-4,
        learning_rate_peak=3e-4,
        learning_rate_end=1.5e-4,
        learning_rate_warmup_rate=1e-6,
        learning_rate_warmup_step=int(1e-6 * TOTAL_UPDATES),
        learning_rate_decay_rate=1.0,
        learning_rate_decay_step=TOTAL_UPDATES,
        actor_num_blocks=ACTOR[0],
        actor_hidden_dim=ACTOR[1],
        actor_bc_alpha=0.0,
        actor_noise_zeta_mu=2.0,
        actor_noise_zeta_max=16,
        actor_update_period=2,
        critic_num_blocks=CRITIC[0],
        critic_hidden_dim=CRITIC[1],
        critic_num_bins=101,
        critic_min_v=-5.0,
        critic_max_v=5.0,
        critic_target_update_tau=TAU,
        temp_initial_value=TEMP0,
        temp_target_sigma=TARGET_STD,
        temp_target_entropy=target_entropy,
        gamma=GAMMA,
        n_step=1,
        use_compile=False,
        compile_mode="default",
        use_amp=False,
        load_optimizer=False,
        load_reward_normalizer=False,
    )


def arrays(prefix: str, module: torch.nn.Module, only: str = "") -> dict[str, np.ndarray]:
    """The state_dict (parameters and buffers) under ``prefix``; names containing ``only``."""
    state = module.state_dict().items()
    return {f"{prefix}/{k}": v.detach().numpy().copy() for k, v in state if only in k}


def grads(prefix: str, module: torch.nn.Module) -> dict[str, np.ndarray]:
    return {f"{prefix}/{k}": p.grad.numpy().copy() for k, p in module.named_parameters()}


def make_batch(rng: np.random.Generator) -> dict[str, np.ndarray]:
    obs = rng.normal(size=(B, OBS)) * np.array([3.0, 0.5, 1.0]) + np.array([1.0, -2.0, 0.0])
    next_obs = obs + 0.3 * rng.normal(size=(B, OBS))
    reward = rng.uniform(-1.5, 1.5, size=B)
    reward[0] = 6.0  # the target support is clipped at v_max
    term = (rng.uniform(size=B) < 0.25).astype(np.float64)
    term[1] = 1.0
    f32 = lambda x: np.asarray(x, np.float32)
    return {
        "observation": f32(obs),
        "action": f32(rng.uniform(-1, 1, size=(B, ACT))),
        "reward": f32(reward),
        "next_observation": f32(next_obs),
        "terminated": f32(term),
    }


def reward_normalizer_sequence(out: dict) -> None:
    """The official RewardNormalizer over 40 steps of 3 envs (dones included)."""
    rng = np.random.default_rng(7)
    norm = RewardNormalizer(gamma=GAMMA, G_max=5.0, load_rms=False, device=torch.device("cpu"))
    steps, envs = 40, 3
    reward = rng.normal(size=(steps, envs)).astype(np.float32) * 2.0 + 0.5
    term = rng.uniform(size=(steps, envs)) < 0.05
    trunc = rng.uniform(size=(steps, envs)) < 0.05
    probe = np.float32([1.0, -2.0, 0.5])
    scaled = []
    for t in range(steps):
        norm.update_reward_stats(
            reward=torch.as_tensor(reward[t]),
            terminated=torch.as_tensor(term[t]),
            truncated=torch.as_tensor(trunc[t]),
        )
        scaled.append(norm.normalize_rewards(torch.as_tensor(probe)).numpy().copy())
    out["rn/reward"], out["rn/terminated"], out["rn/truncated"] = reward, term, trunc
    out["rn/probe"], out["rn/scaled"] = probe, np.stack(scaled)
    out["rn/G"], out["rn/G_max"] = norm.G_r.numpy(), norm.G_r_max.numpy()
    rms = norm.G_rms
    out["rn/mean"], out["rn/var"] = rms.mean.numpy(), rms.var.numpy()
    out["rn/count"] = rms.count.numpy()


def main() -> None:
    torch.manual_seed(0)
    torch.set_default_dtype(torch.float32)
    cfg = config()
    device = torch.device("cpu")
    actor, critic, target, temperature = _init_flashsac_networks(OBS, OBS, ACT, cfg, device)

    rng = np.random.default_rng(0)
    draws: list[np.ndarray] = []

    def standard_normal(shape, dtype, device):  # Normal.rsample's draw, recorded
        eps = rng.standard_normal(size=tuple(shape)).astype(np.float32)
        draws.append(eps)
        return torch.as_tensor(eps, dtype=dtype, device=device)

    torch_normal._standard_normal = standard_normal

    out: dict[str, np.ndarray] = {}
    nets = {"actor": actor.network, "critic": critic.network, "target": target.network}
    for name, net in nets.items():
        out.update(arrays(f"init/{name}", net))
    out["init/log_temp"] = temperature.network.log_temp.detach().numpy().copy()

    # forward outputs of copies of the initial networks (train mode moves the statistics)
    fwd = make_batch(np.random.default_rng(100))
    obs2 = np.concatenate([fwd["observation"], fwd["next_observation"]])
    act2 = np.concatenate([fwd["action"], -fwd["action"]])
    with torch.no_grad():
        for train in (True, False):
            a = copy.deepcopy(actor.network)
            mean, std = a.get_mean_and_std(torch.as_tensor(obs2), training=train)
            c = copy.deepcopy(critic.network)
            q, info = c(torch.as_tensor(obs2), torch.as_tensor(act2), training=train)
            tag = "train" if train else "eval"
            out[f"fwd/{tag}/mean"], out[f"fwd/{tag}/std"] = mean.numpy(), std.numpy()
            out[f"fwd/{tag}/q"], out[f"fwd/{tag}/log_prob"] = q.numpy(), info["log_prob"].numpy()
            out.update(arrays(f"fwd/{tag}/actor_after", a, only="running_"))
            out.update(arrays(f"fwd/{tag}/critic_after", c, only="running_"))
    out["fwd/obs"], out["fwd/action"] = obs2, act2

    batch_rng = np.random.default_rng(1)
    for k in range(UPDATES):
        batch = make_batch(batch_rng)
        for key, v in batch.items():
            out[f"u{k}/batch/{key}"] = v
        tensors = {key: torch.as_tensor(v) for key, v in batch.items()}
        tensors["actor_observation"] = tensors["observation"]
        tensors["actor_next_observation"] = tensors["next_observation"]
        first = len(draws)
        info = _update_networks(
            batch=tensors,
            actor=actor,
            critic=critic,
            target_critic=target,
            temperature=temperature,
            cfg=cfg,
            do_actor_update=(k % cfg.actor_update_period == 0),
            device=device,
            grad_scaler=None,
        )
        made = draws[first:]
        if k % 2 == 0:
            out[f"u{k}/noise/actor"] = made.pop(0)
        out[f"u{k}/noise/critic"] = made.pop(0)
        assert not made
        for key, v in info.items():
            out[f"u{k}/metric/{key}"] = np.asarray(float(v.detach()), np.float32)
        for name, net in nets.items():
            out.update(arrays(f"u{k}/{name}", net))
        out[f"u{k}/log_temp"] = temperature.network.log_temp.detach().numpy().copy()
        out[f"u{k}/lr/actor"] = np.float32(actor.optimizer.param_groups[0]["lr"])
        out[f"u{k}/lr/critic"] = np.float32(critic.optimizer.param_groups[0]["lr"])
        if k == 0:  # gradients stay in .grad until the next update zeroes them
            out.update(grads("u0/grad/actor", actor.network))
            out.update(grads("u0/grad/critic", critic.network))
            out["u0/grad/log_temp"] = temperature.network.log_temp.grad.numpy().copy()

    reward_normalizer_sequence(out)
    meta = {"updates": UPDATES, "obs": OBS, "act": ACT, "batch": B, "gamma": GAMMA, "tau": TAU}
    meta.update(temp0=TEMP0, total_updates=TOTAL_UPDATES, actor=ACTOR, critic=CRITIC)
    out["meta"] = np.asarray(repr(meta))
    out = {k: (v.astype(np.float32) if v.dtype == np.float64 else v) for k, v in out.items()}
    OUT.parent.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(OUT, **out)
    print(f"wrote {OUT} ({OUT.stat().st_size / 1024:.0f} KiB, {len(out)} arrays)", file=sys.stderr)


if __name__ == "__main__":
    main()
