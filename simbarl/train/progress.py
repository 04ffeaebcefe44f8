"""Progress bar: env steps, env steps/s, updates/s and the last evaluation return."""

from __future__ import annotations

import sys


class Progress:
    def __init__(self, total: int, initial: int = 0, enabled: bool = True):
        self._bar = None
        if enabled:
            from tqdm import tqdm

            self._bar = tqdm(
                total=total,
                initial=initial,
                unit="step",
                dynamic_ncols=True,
                file=sys.stderr,
                mininterval=0.5,
                smoothing=0.05,
            )
        self._postfix = {}

    def advance(self, n: int) -> None:
        if self._bar is not None:
            self._bar.update(n)

    def _show(self) -> None:
        if self._bar is not None:
            self._bar.set_postfix(self._postfix, refresh=False)

    def set_rates(self, env_steps_per_s: float, updates_per_s: float) -> None:
        self._postfix.update(env_sps=f"{env_steps_per_s:.0f}", upd_s=f"{updates_per_s:.0f}")
        self._show()

    def set_eval(self, ret: float) -> None:
        self._postfix["eval"] = f"{ret:.1f}"
        self._show()

    def write(self, line: str) -> None:
        """A line of text above the bar (on stderr, as the bar)."""
        if self._bar is not None:
            self._bar.write(line, file=sys.stderr)
        else:
            print(line, file=sys.stderr)

    def close(self) -> None:
        if self._bar is not None:
            self._bar.close()
