"""The device loop over several local devices: envs, replay rows and batches split.

Data parallelism through XLA's SPMD partitioner, not ``pmap``: the device loop's
program is the single-device one, and sharding annotations say where its arrays
live on a 1-D ``Mesh`` over the local devices (axis ``"data"``). The envs' state,
their observations, actions and returns, and the replay's rows are split along
their env (row) axis; the learner's parameters, optimizer states, statistics and
keys are replicated; every sampled batch is split along its batch axis, so each
device computes the losses of its share and XLA sums the gradients across
devices before the (replicated) optimizer step. Because the program is the same,
the same keys draw the same envs and batches: only the order of floating-point
sums differs from a single device.

With one device nothing here is used, and the compiled program is today's.
"""

from __future__ import annotations

import jax
import numpy as np
from jax.sharding import Mesh, NamedSharding, PartitionSpec

AXIS = "data"


def device_count(devices: int | None, num_envs: int, batch_size: int) -> int:
    """Devices the loop splits over: ``devices`` (``--devices``), or all local ones.

    Refuses counts that do not divide the envs and the batch, which are split evenly."""
    available = len(jax.local_devices())
    count = available if devices is None else devices
    if count > available:
        raise ValueError(
            f"--devices {count} asks for more devices than this process has ({available}: "
            f"{jax.local_devices()[0].platform}); use --devices {available} or fewer"
        )
    bad = [(f, v) for f, v in (("--num-envs", num_envs), ("--batch-size", batch_size)) if v % count]
    if bad:
        what = " and ".join(f"{flag} ({value})" for flag, value in bad)
        raise ValueError(
            f"{what} must divide by the device count ({count}) to be split evenly over the "
            "devices; change it, or set --devices to a count that divides it (1: one device)"
        )
    return count


class DataParallel:
    """Where the device loop's arrays live on a 1-D mesh of ``count`` local devices.

    Specs are given for one seed; ``stacked``: the trees carry a leading seed axis
    (``--vmap-seeds``), which is never split. Inside a ``vmap`` over seeds the
    constraints take one seed's shapes (JAX adds the seed axis)."""

    def __init__(self, count: int, num_envs: int, stacked: bool = False):
        self.count, self.num_envs, self.stacked = count, num_envs, stacked
        self.mesh = Mesh(np.asarray(jax.local_devices()[:count]), (AXIS,))

    # ----------------------------------------------------------------- specs
    def per_env(self, tree, lead: int = 0, num_envs: int | None = None):
        """Split every leaf whose (per-seed) leading axis has one entry per env
        (of ``num_envs`` envs, default the loop's)."""
        n = num_envs or self.num_envs

        def spec(x):
            shape = np.shape(x)[lead:]
            split = len(shape) > 0 and shape[0] == n
            return PartitionSpec(AXIS) if split else PartitionSpec()

        return jax.tree.map(spec, tree)

    @staticmethod
    def rows(tree):
        """Split every leaf along its leading (row) axis."""
        return jax.tree.map(lambda _: PartitionSpec(AXIS), tree)

    @staticmethod
    def replicated(tree):
        return jax.tree.map(lambda _: PartitionSpec(), tree)

    def batch(self, tree):
        """A sampled ``(utd, batch, ...)`` tree: split along the batch axis."""
        return jax.tree.map(lambda _: PartitionSpec(None, AXIS), tree)

    def constrain_batch(self, tree):
        """A sampled ``(utd, batch, ...)`` tree split along its batch axis: each device
        computes the losses of its share, XLA sums the gradients over the devices."""
        return self.constrain(tree, self.batch(tree))

    def replay(self, buffer):
        """A replay ring: rows split, write position, size and sum tree replicated."""
        return buffer.replace(
            data=self.rows(buffer.data),
            pos=PartitionSpec(),
            size=PartitionSpec(),
            priorities=self.replicated(buffer.priorities),
        )

    # ---------------------------------------------------------- placement
    def named(self, specs, stacked: bool | None = None):
        """NamedShardings of ``specs`` (one seed's), with the seed axis in front when
        the trees are stacked."""
        stacked = self.stacked if stacked is None else stacked
        lead = (None,) if stacked else ()
        return jax.tree.map(
            lambda s: NamedSharding(self.mesh, PartitionSpec(*lead, *s)),
            specs,
            is_leaf=lambda s: isinstance(s, PartitionSpec),
        )

    def constrain(self, tree, specs):
        """``tree`` (traced, one seed's shapes) laid out as ``specs`` say."""
        shardings = self.named(specs, stacked=False)
        return jax.lax.with_sharding_constraint(tree, shardings)

    def put(self, tree, specs):
        """``tree`` (concrete, stacked as the loop holds it) moved to ``specs``' layout:
        for what the host built or changed between chunks (a resume, a reset)."""
        return jax.device_put(tree, self.named(specs))

    def init(self, fn, specs_of):
        """``fn()`` created directly in its layout (``specs_of(shapes)``), never whole
        on one device: a replay ring larger than one device's memory."""
        shapes = jax.eval_shape(fn)
        return jax.jit(fn, out_shardings=self.named(specs_of(shapes), stacked=False))()
