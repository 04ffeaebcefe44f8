"""A good Pendulum-v1 policy without learning, for the offline tests."""

import numpy as np

RANDOM_RETURN = -1200.0  # Pendulum-v1 under uniform random actions, about


class Swingup:
    """A good Pendulum policy without learning: energy pumping, then PD at the top."""

    def make_env(self):
        from simbarl.envs.registry import make_env

        return make_env("Pendulum-v1", 1)

    def act(self, obs):
        c, s, w = obs
        if c > 0.85:
            u = -(10.0 * np.arctan2(s, c) + 2.0 * w)
        elif abs(w) > 1e-3:
            u = 2.0 * np.sign(w) * (1.0 if 0.5 * w**2 + 10.0 * (c - 1.0) < 0 else -1.0)
        else:
            u = 2.0
        return np.clip([u / 2.0], -1.0, 1.0).astype(np.float32)
