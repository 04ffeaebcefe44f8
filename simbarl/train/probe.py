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

The probe is compiled in a background thread from the run's first training log
(``AheadProbe``), so that its first call does not stall the loop for seconds.
"""

from __future__ import annotations

import atexit
import os
import sys
import threading
import warnings
from concurrent.futures import Future
from functools import partial

import jax

from simbarl.agents import ActorCritic, LearnerState
from simbarl.analysis.metrics import activation_metrics, optimization_metrics
from simbarl.networks.flashsac import STATS
from simbarl.networks.probe import PROBE
from simbarl.normalizers import Normalization, init_reward_scaler, init_stats
from simbarl.replay import ReplayBuffer, init_replay
from simbarl.runs.learner import iterations_for, normalization, replay_capacity, warmup_iterations
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

    actor = optimization_metrics(*map(trained, (learner.actor, actor_grads, new_actor)))
    _, probed = agent.actor_net.apply(learner.actor, batch.obs, mutable=[PROBE])
    actor.update(activation_metrics(probed[PROBE]))

    def member(params, grads, new):
        out = optimization_metrics(*map(trained, (params, grads, new)))
        _, probed = agent.critic_net.critic.apply(params, batch.obs, batch.action, mutable=[PROBE])
        out.update(activation_metrics(probed[PROBE]))
        return out

    per_critic = jax.vmap(member)(learner.critic, critic_grads, new_critic)
    critic = jax.tree.map(lambda x: x.mean(axis=0), per_critic)  # mean over the ensemble
    return {
        **{f"actor/{k}": v for k, v in actor.items()},
        **{f"critic/{k}": v for k, v in critic.items()},
    }


def trained(variables):
    """A network's trained variables: without FlashSAC's BatchNorm running statistics,
    which no gradient moves (their norms would pose as parameter norms)."""
    if isinstance(variables, dict):
        return {k: v for k, v in variables.items() if k != STATS}
    return variables


def make_probe_fn(agent: ActorCritic, cfg, n_seeds: int, layout=None):
    """``probe_fn(learner, buffer, norm)``: the jitted probe for a TrainConfig (vmapped
    over seeds when ``n_seeds > 1``), compiled ahead (``AheadProbe``) when the run will
    reach a probe; None when ``cfg.analyze_every`` is 0. ``layout``: the engine's
    ``probe_layout`` (inputs split over several devices), or None."""
    if not cfg.analyze_every:
        return None
    fn = partial(
        probe,
        agent,
        batch_size=cfg.analyze_batch,
        replay=cfg.replay,
        num_envs=cfg.num_envs,
    )
    jitted = jax.jit(_over_seeds(fn, n_seeds, looped=layout is not None))
    if not _reaches_a_probe(cfg):
        return jitted
    return AheadProbe(jitted, partial(probe_inputs, agent, cfg, n_seeds, layout))


def _over_seeds(fn, n_seeds: int, looped: bool):
    """``fn`` over a leading seed axis: vmapped, or with ``looped`` (inputs split over
    several devices) one seed after another: XLA:CPU (JAX 0.10.2, two host devices) hangs
    in a batched SVD, the feature ranks', that follows a cross-device collective, and
    runs one seed's."""
    if n_seeds == 1:
        return fn
    if not looped:
        return jax.vmap(fn)
    return lambda *args: jax.lax.map(lambda one: fn(*one), args)


def probe_inputs(agent: ActorCritic, cfg, n_seeds: int, layout=None):
    """Shapes and dtypes of ``(learner, buffer, norm)`` as both loops pass them to the
    probe of a fresh run: the learner of ``agent.init``, the replay ring of the loops'
    capacity, float32 normalization; with a leading seed axis when ``n_seeds > 1``;
    with the shardings ``layout`` gives them, if any."""
    capacity = replay_capacity(cfg)
    r = cfg.replay
    args = jax.eval_shape(
        lambda: (
            agent.init(jax.random.PRNGKey(0)),
            init_replay(capacity, agent.obs_dim, agent.action_dim, r.prioritized, r.obs_dtype),
            normalization(cfg, init_stats((agent.obs_dim,)), init_reward_scaler(cfg.num_envs)),
        )
    )
    if n_seeds > 1:
        seeded = lambda s: jax.ShapeDtypeStruct((n_seeds, *s.shape), s.dtype, weak_type=s.weak_type)
        args = jax.tree.map(seeded, args)
    return args if layout is None else layout(args)


def _reaches_a_probe(cfg) -> bool:
    """Whether a run of ``cfg`` from its start gets to a probe: a multiple of
    ``--analyze-every`` after the warm-up and within the budget."""
    per_iter = cfg.num_envs * cfg.action_repeat
    learning_from = warmup_iterations(cfg) * per_iter
    first = max(1, -(-learning_from // cfg.analyze_every)) * cfg.analyze_every
    return first <= iterations_for(cfg) * per_iter


class AheadProbe:
    """The jitted probe, compiled in a background thread before its first call.

    Its first compilation (seconds for the SimbaV2 networks) would otherwise stall the
    training loop at the first probe. ``start`` (the session calls it at the run's
    first training log) lowers and compiles ``jitted`` for ``inputs()``
    (``probe_inputs``) in a thread while the loop trains; a call starts it if nothing
    did, waits for it, raises its error if it failed, and runs the compiled executable
    when the arguments have exactly its shapes, dtypes (weak types included) and
    shardings. Otherwise (a resumed run whose ring kept another capacity, say) it
    calls ``jitted``, which compiles then, as without this class, with a warning: the
    same program, so the same metrics either way.

    Not from the run's start: XLA:CPU compilations in two threads largely take turns,
    so a compilation in the background holds up the loop's own (its setup, its first
    step); by its first log the loop has compiled its step and only runs it.
    """

    def __init__(self, jitted, inputs):
        self.jitted = jitted
        self._inputs = inputs
        self._future: Future = Future()
        self._started = False
        self._compiled = None  # (executable, leaf types, in-shardings) once fetched
        self._warned = False

    def start(self) -> None:
        """Begin compiling in a background thread (once)."""
        with _LOCK:
            if self._started:
                return
            self._started = True
            thread = threading.Thread(target=self._compile, name="simbarl-probe", daemon=True)
            _COMPILING.add(thread)
        thread.start()

    def _compile(self) -> None:
        try:
            args = self._inputs()
            executable = self.jitted.lower(*args).compile()
            # None for an argument the program does not read
            shardings = jax.tree.leaves(executable.input_shardings[0], is_leaf=_is_none)
            self._future.set_result((executable, _leaf_types(args), shardings))
        except BaseException as error:  # raised by __call__ on the training path
            self._future.set_exception(error)
        finally:
            _COMPILING.discard(threading.current_thread())

    def __call__(self, *args):
        if self._compiled is None:
            self.start()
            self._compiled = self._future.result()  # waits, or raises the thread's error
        executable, types, shardings = self._compiled
        if _leaf_types(args) == types and _on(args, shardings):
            return executable(*args)
        if not self._warned:
            self._warned = True
            warnings.warn(
                "the dynamics probe was compiled ahead for other input shapes; "
                "compiling it for these on the training path",
                RuntimeWarning,
                stacklevel=2,
            )
        return self.jitted(*args)


def _leaf_types(tree):
    """Tree structure and (shape, dtype, weak type) of every leaf, as jit sees them."""
    leaves, treedef = jax.tree.flatten(tree)
    types = []
    for leaf in leaves:
        aval = jax.typeof(leaf)
        types.append((aval.shape, aval.dtype, aval.weak_type))
    return treedef, types


def _on(tree, shardings) -> bool:
    """Every jax.Array leaf of ``tree`` is placed as the executable expects."""
    return all(
        s is None or not isinstance(x, jax.Array) or x.sharding.is_equivalent_to(s, x.ndim)
        for x, s in zip(jax.tree.leaves(tree), shardings, strict=True)
    )


def _is_none(x) -> bool:
    return x is None


_LOCK = threading.Lock()

# Threads still compiling. XLA aborts the process ("terminate called ...") when the
# interpreter exits under a compiling thread, so exit waits for them (at most one
# compilation's time); a Ctrl-C during that wait exits at once, skipping the teardown.
_COMPILING: set[threading.Thread] = set()


@atexit.register
def _join_compiling() -> None:
    try:
        for thread in list(_COMPILING):
            thread.join()
    except KeyboardInterrupt:
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(130)
