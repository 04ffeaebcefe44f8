"""Where encoders expose their intermediate activations for the training-dynamics probe.

Encoders ``sow`` activations into the ``PROBE`` collection under a *kind*
(optionally ``kind:layer`` when the layer is not a submodule of its own):

* ``feature``: the representation after the embedding and after every block
  (for SimbaV2 after the l2-normalization; for FlashSAC the residual stream, which
  nothing normalizes until the encoder's final RMSNorm);
* ``pre_norm``: SimbaV2's features just before that l2-normalization;
* ``hidden``: post-ReLU hidden units, whose dormant ratio is measured;
* ``output``: the encoder's output, whose rank is measured.

Sowing is a no-op unless ``apply`` is called with ``mutable=[PROBE]``, so
training computes exactly what it computed before (``train/probe.py`` reads it).
"""

PROBE = "probe"


def sow(module, name: str, x) -> None:
    """Expose ``x`` under ``name`` (``kind`` or ``kind:layer``), except during ``init``:
    init makes every collection mutable, and the learner's parameter trees must not
    carry probe entries."""
    if not module.is_initializing():
        module.sow(PROBE, name, x)
