"""Write tests/golden/flashsac_{lr,zeta,n_step}.npz from the official FlashSAC code.

Run with the official code (Holiday-Robot/FlashSAC @87edc90, package ``flash_rl``)
importable, in the environment ``benchmarks/flashsac_parity_fixture.py`` describes::

    TORCHDYNAMO_DISABLE=1 /work/venv-torch/bin/python benchmarks/verify/flashsac_golden.py

Three quantities beside the networks and the update (those are the parity fixture's),
each produced by the official functions, not by a transcription of them:

* ``flashsac_lr.npz``: the learning rates of the three official LambdaLR schedules
  built by ``_init_flashsac_networks`` over whole runs (the CPU benchmarks' 1e6
  updates, the GPU benchmarks' 97,658, and 20), the critic's scheduler stepping on
  every update and the actor's and temperature's on every second, as
  ``_update_networks`` steps them; recorded at about a thousand updates of each run,
  boundaries included.
* ``flashsac_zeta.npz``: the noise-repetition law: the CDF of
  ``_build_truncated_zeta_cdf(2, 16)``, a histogram of 200,000 holds drawn by
  ``_sample_integer_from_cdf`` (torch seed 0), and a 400-step trace of
  ``_sample_flashsac_actions`` (2 envs): the hold drawn at every call, the count and
  hold after it, and whether the noise was renewed.
* ``flashsac_n_step.npz``: 14 steps of 2 envs (truncations and terminations inside
  3-step windows, a truncation followed by a termination within one window, dones on
  a window's last step) added to the official ``NpyUniformBuffer`` with ``n_step`` 3;
  the rows it stores, and the categorical targets ``_compute_categorical_td_target``
  gives for those rows with ``gamma ** n_step``, as ``update_critic`` calls it.
"""

from __future__ import annotations

import os
import sys
import warnings
from pathlib import Path

os.environ.setdefault("TORCHDYNAMO_DISABLE", "1")  # eager: the same arithmetic

import gymnasium as gym  # noqa: E402
import numpy as np  # noqa: E402
import torch  # noqa: E402
from flash_rl.agents.flashSAC import agent as official  # noqa: E402
from flash_rl.agents.flashSAC.update import _compute_categorical_td_target  # noqa: E402
from flash_rl.buffers.numpy_buffer import NpyUniformBuffer  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from flashsac_parity_fixture import config  # noqa: E402

OUT = Path(__file__).resolve().parents[2] / "tests" / "golden"
OBS, ACT = 3, 2


# ---------------------------------------------------------------- learning rates

# (name, updates in the run): CPU benchmarks 1e6 env steps at UTD 1; GPU benchmarks
# 48,829 vector steps at UTD 2; the parity fixture's 20
RUNS = (("cpu", 1_000_000), ("gpu", 97_658), ("tiny", 20))


def recorded_updates(total: int) -> np.ndarray:
    ends = [0, 1, 2, 3, total - 3, total - 2, total - 1, total, total + 1, total + 7]
    spread = np.linspace(0, total + 10, 1000).astype(np.int64)
    return np.unique(np.concatenate([ends, spread, 2 * (spread // 2) + 1]).clip(0))


def learning_rates(out: dict) -> None:
    warnings.filterwarnings("ignore", message="Detected call of `lr_scheduler.step")
    for name, total in RUNS:
        cfg = config()
        cfg.learning_rate_warmup_step = int(cfg.learning_rate_warmup_rate * total)
        cfg.learning_rate_decay_step = int(cfg.learning_rate_decay_rate * total)
        actor, critic, _, temperature = official._init_flashsac_networks(
            OBS, OBS, ACT, cfg, torch.device("cpu")
        )
        at = recorded_updates(total)
        wanted = set(at.tolist())
        rows = []
        lr = lambda net: net.optimizer.param_groups[0]["lr"]
        for k in range(int(at[-1]) + 1):
            if k in wanted:  # the rates update k uses (the actor's on even k)
                rows.append((lr(actor), lr(critic), lr(temperature)))
            if k % cfg.actor_update_period == 0:
                actor.scheduler.step()
                temperature.scheduler.step()
            critic.scheduler.step()
        rows = np.asarray(rows, np.float64)
        out[f"{name}/update"] = at
        out[f"{name}/actor"], out[f"{name}/critic"] = rows[:, 0], rows[:, 1]
        out[f"{name}/temperature"] = rows[:, 2]
        out[f"{name}/total"] = np.int64(total)
        out[f"{name}/warmup"] = np.int64(cfg.learning_rate_warmup_step)
    out["peak"], out["end"] = np.float64(cfg.learning_rate_peak), np.float64(cfg.learning_rate_end)


# ---------------------------------------------------------------- zeta sampler

ZETA, ZETA_MAX, DRAWS, TRACE = 2.0, 16, 200_000, 400


def zeta(out: dict) -> None:
    cdf = official._build_truncated_zeta_cdf(mu=ZETA, max_n=ZETA_MAX)
    torch.manual_seed(0)
    holds = np.fromiter(
        (int(official._sample_integer_from_cdf(cdf)) for _ in range(DRAWS)), np.int64, DRAWS
    )
    out["cdf"] = cdf.numpy().copy()
    out["counts"] = np.bincount(holds, minlength=ZETA_MAX + 1)[1:]
    out["zeta"], out["zeta_max"], out["draws"] = np.float64(ZETA), np.int64(ZETA_MAX), DRAWS

    # the hold state machine of the training action, with the holds it drew recorded
    drawn: list[int] = []
    sample = official._sample_integer_from_cdf

    def recorded(c):
        n = sample(c)
        drawn.append(int(n))
        return n

    official._sample_integer_from_cdf = recorded
    cfg = config()
    actor, *_ = official._init_flashsac_networks(OBS, OBS, ACT, cfg, torch.device("cpu"))
    obs = torch.zeros((2, OBS))
    noise = torch.randn((2, ACT))
    count, hold = torch.tensor(0, dtype=torch.int32), torch.tensor(1, dtype=torch.int32)
    trace = []
    with torch.no_grad():
        for _ in range(TRACE):
            before = noise
            noise, _, count, hold = official._sample_flashsac_actions(
                actor, noise, obs, 1.0, count, hold, cdf
            )
            trace.append((int(count), int(hold), not torch.equal(noise, before)))
    official._sample_integer_from_cdf = sample
    trace = np.asarray(trace, np.int64)
    out["trace/drawn"] = np.asarray(drawn, np.int64)
    out["trace/count"], out["trace/hold"] = trace[:, 0], trace[:, 1]
    out["trace/renewed"] = trace[:, 2].astype(bool)


# ---------------------------------------------------------------- n-step buffer

STEPS, ENVS, N_STEP, GAMMA, BINS = 14, 2, 3, 0.9, 101
# (env, step) of the episode ends
TRUNCATED = {(0, 3), (0, 10), (0, 13), (1, 5), (1, 12)}
TERMINATED = {(0, 8), (0, 11), (1, 2), (1, 6)}


def n_step(out: dict) -> None:
    rng = np.random.default_rng(5)
    f32 = lambda x: np.asarray(x, np.float32)
    obs = np.zeros((STEPS, ENVS, OBS), np.float32)
    next_obs = np.zeros_like(obs)
    current = f32(rng.normal(size=(ENVS, OBS)))
    term = np.zeros((STEPS, ENVS), np.float32)
    trunc = np.zeros_like(term)
    for t in range(STEPS):
        obs[t] = current
        nxt = f32(rng.normal(size=(ENVS, OBS)))  # the step's true next observation
        next_obs[t] = nxt
        current = nxt.copy()
        for e in range(ENVS):
            term[t, e], trunc[t, e] = (e, t) in TERMINATED, (e, t) in TRUNCATED
            if term[t, e] or trunc[t, e]:  # same-step autoreset: a new first observation
                current[e] = rng.normal(size=OBS)
    action = f32(rng.uniform(-1, 1, size=(STEPS, ENVS, ACT)))
    reward = f32(rng.uniform(-1, 1, size=(STEPS, ENVS)))

    box = lambda d: gym.spaces.Box(-np.inf, np.inf, (ENVS, d), np.float32)
    buffer = NpyUniformBuffer(box(OBS), box(ACT), N_STEP, GAMMA, 100, 1, 1)
    for t in range(STEPS):
        buffer.add(
            {
                "observation": obs[t],
                "action": action[t],
                "reward": reward[t],
                "terminated": term[t],
                "truncated": trunc[t],
                "next_observation": next_obs[t],
            }
        )
    rows = buffer.sample(np.arange(len(buffer)))
    for key, value in {"obs": obs, "action": action, "reward": reward}.items():
        out[f"in/{key}"] = value
    out["in/next_obs"], out["in/terminated"], out["in/truncated"] = next_obs, term, trunc
    for key, value in rows.items():
        out[f"buffer/{key}"] = np.asarray(value)

    # update_critic's target for these rows: gamma ** n_step, whatever the window
    n = len(buffer)
    logits = torch.as_tensor(rng.normal(size=(n, BINS)) * 2, dtype=torch.float32)
    log_probs = torch.log_softmax(logits, dim=-1)
    entropy = torch.as_tensor(rng.uniform(-0.3, 0.3, size=n), dtype=torch.float32)
    target = _compute_categorical_td_target(
        target_log_probs=log_probs,
        reward=torch.as_tensor(rows["reward"]),
        done=torch.as_tensor(rows["terminated"]),
        actor_entropy=entropy,
        gamma=GAMMA**N_STEP,
        num_bins=BINS,
        min_v=-5.0,
        max_v=5.0,
    )
    out["target/log_probs"], out["target/entropy"] = log_probs.numpy(), entropy.numpy()
    out["target/probs"] = target.numpy()
    out["gamma"], out["n_step"] = np.float64(GAMMA), np.int64(N_STEP)


def save(name: str, out: dict) -> None:
    path = OUT / f"flashsac_{name}.npz"
    np.savez_compressed(path, **out)
    print(f"wrote {path} ({path.stat().st_size / 1024:.0f} KiB)", file=sys.stderr)


def main() -> None:
    OUT.mkdir(parents=True, exist_ok=True)
    torch.set_default_dtype(torch.float32)
    torch.manual_seed(0)
    for name, make in (("lr", learning_rates), ("zeta", zeta), ("n_step", n_step)):
        out: dict[str, np.ndarray] = {}
        make(out)
        save(name, out)


if __name__ == "__main__":
    main()
