"""The training-dynamics probe: metrics of the learner on a replay batch, without changing it.

Every ``--analyze-every`` env steps both loops call the jitted ``probe`` (vmapped
over ``--vmap-seeds``) on the learner and replay as they are at that moment. It
draws ``--analyze-batch`` transitions with its own key, ``fold_in(learner.key,
PROBE_STREAM)``, which reads the learner's key without consuming it, so a run
with analysis on ends with the same parameters, bit for bit, as with it off.

For the actor and for every critic of the ensemble (then averaged over the
critics) it computes, with ``analysis.metrics``: parameter and gradient norms,
the effective learning rate ``||g|| / ||W||``, the size of the optimizer step
``||dW|| / ||W||``, feature norms, dormant ratios and the rank of the encoder
output. ``dW`` is one optimizer step (Adam with the learner's current moments
and learning rate, then the hypersphere projection) taken on a *copy* of the
parameters with the probe batch's gradient and discarded: the step the
optimizer would take from the current state, measured without taking it.
"""

from __future__ import annotations

from functools import partial

import jax

from simbarl.agents import ActorCritic, LearnerState
from simbarl.analysis.metrics import activation_metrics, optimization_metrics
from simbarl.networks.probe import PROBE
from simbarl.normalizers import Normalization
from simbarl.replay import ReplayBuffer
from simbarl.train.step import draw, prepare

# Folded into the learner's key: the probe's own random stream.
PROBE_STREAM = 0x0D1A


def probe(
    agent: ActorCritic,
    learner: LearnerState,
    buffer: ReplayBuffer,
    norm: Normalization,
    *,
    batch_size: int,
    replay,
    num_envs: int,
) -> dict[str, jax.Array]:
    """``actor/<metric>`` and ``critic/<metric>`` scalars (see ``analysis.metrics``)."""
    key = jax.random.fold_in(learner.key, PROBE_STREAM)
    k_sample, k_loss = jax.random.split(key)
    tr, horizon, _, weight = draw(
        buffer, k_sample, (batch_size,), replay, agent.discount, num_envs, 1.0
    )
    batch = prepare(tr, norm, horizon, weight)
    actor_grads, critic_grads = agent.gradients(learner, batch, k_loss)
    new_actor, _ = agent.apply_grads(agent.actor_tx, actor_grads, learner.actor_opt, learner.actor)
    new_critic, _ = agent.apply_grads(
        agent.critic_tx, critic_grads, learner.critic_opt, learner.critic
    )

    actor = optimization_metrics(learner.actor, actor_grads, new_actor)
    _, probed = agent.actor_net.apply(learner.actor, batch.obs, mutable=[PROBE])
    actor.update(activation_metrics(probed[PROBE]))

    def member(params, grads, new):
        out = optimization_metrics(params, grads, new)
        _, probed = agent.critic_net.critic.apply(params, batch.obs, batch.action, mutable=[PROBE])
        out.update(activation_metrics(probed[PROBE]))
        return out

    per_critic = jax.vmap(member)(learner.critic, critic_grads, new_critic)
    critic = jax.tree.map(lambda x: x.mean(axis=0), per_critic)  # mean over the ensemble
    return {
        **{f"actor/{k}": v for k, v in actor.items()},
        **{f"critic/{k}": v for k, v in critic.items()},
    }


def make_probe_fn(agent: ActorCritic, cfg, n_seeds: int):
    """Jitted ``probe(learner, buffer, norm)`` for a TrainConfig (vmapped over seeds
    when ``n_seeds > 1``), or None when ``cfg.analyze_every`` is 0."""
    if not cfg.analyze_every:
        return None
    fn = partial(
        probe,
        agent,
        batch_size=cfg.analyze_batch,
        replay=cfg.replay,
        num_envs=cfg.num_envs,
    )
    return jax.jit(jax.vmap(fn) if n_seeds > 1 else fn)
