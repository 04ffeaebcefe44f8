"""``simbarl export``: a trained run's policy as a policy-only file (``--policy``,
``runs.policy_file``) or an ONNX model that runs without simbarl or JAX (``--onnx``,
``onnx_model``)."""
