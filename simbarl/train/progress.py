"""How a run shows its progress: a bar on a terminal, plain lines in a log or a pipe.

``bar``: a tqdm bar on stderr with env steps/s, updates/s and the last evaluation
return. ``plain``: a line on stdout at every training log and every evaluation
(env step of the budget, env steps/s, ETA, the last evaluation return), for
``simbarl train > log.txt``, a cluster's job log or a pipe. ``off``: nothing (the
command's final line still comes). ``auto``: a bar when stdout and stderr are
terminals, plain lines otherwise.
"""

from __future__ import annotations

import sys
import threading
import time

MODES = ("auto", "bar", "plain", "off")


def progress_mode(setting: str | bool) -> str:
    """``bar``, ``plain`` or ``off`` for a config's ``progress`` (``True`` and
    ``False``, from older code and runs, are ``auto`` and ``off``)."""
    if isinstance(setting, bool):
        setting = "auto" if setting else "off"
    if setting not in MODES:
        raise ValueError(f"progress must be one of {', '.join(MODES)}, not {setting!r}")
    if setting != "auto":
        return setting
    terminal = all(s is not None and s.isatty() for s in (sys.stdout, sys.stderr))
    return "bar" if terminal else "plain"


def clock(seconds: float) -> str:
    """``1:02:03`` or ``2:03``."""
    m, s = divmod(int(round(seconds)), 60)
    h, m = divmod(m, 60)
    return f"{h}:{m:02d}:{s:02d}" if h else f"{m}:{s:02d}"


_SAY_LOCK = threading.Lock()


def say(line: str) -> None:
    """A plain progress line on stdout, flushed (a pipe would hold it back). One
    write under a lock: ``print`` writes the text and its newline apart, and lines
    said from two threads (a sweep's workers) ran together."""
    with _SAY_LOCK:
        sys.stdout.write(line + "\n")
        sys.stdout.flush()


class Progress:
    """A run's progress in its ``mode`` (``progress_mode``); ``unit`` names what
    ``total`` counts (``env step``; ``update`` offline)."""

    def __init__(
        self, total: int, initial: int = 0, mode: str | bool = "auto", unit: str = "env step"
    ):
        self.mode = progress_mode(mode)
        self.total, self.n, self.unit = total, initial, unit
        self._start, self._start_n = time.time(), initial
        self._bar = None
        if self.mode == "bar":
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
        self._rate: float | None = None
        self._eval: float | None = None

    def advance(self, n: int) -> None:
        self.n += n
        if self._bar is not None:
            self._bar.update(n)

    def _show(self) -> None:
        if self._bar is not None:
            self._bar.set_postfix(self._postfix, refresh=False)

    def set_rates(self, env_steps_per_s: float, updates_per_s: float) -> None:
        self._rate = env_steps_per_s
        self._postfix.update(env_sps=f"{env_steps_per_s:.0f}", upd_s=f"{updates_per_s:.0f}")
        self._show()

    def logged(self) -> None:
        """A training log was written: a plain line of where the run is."""
        if self.mode == "plain":
            last = "" if self._eval is None else f", last eval return {self._eval:.1f}"
            say(f"{self._where()}{self._speed()}{last}")

    def set_eval(self, ret: float, line: bool = True) -> None:
        """The mean return of an evaluation (``line``: also a plain line of it)."""
        self._eval = ret
        self._postfix["eval"] = f"{ret:.1f}"
        self._show()
        if self.mode == "plain" and line:
            say(f"{self._where()}: eval return {ret:.1f}")

    def _where(self) -> str:
        done = f"{self.n / self.total:.0%}" if self.total else "-"
        return (
            f"[{clock(time.time() - self._start)}] {self.unit} {self.n:,}/{self.total:,} ({done})"
        )

    def _speed(self) -> str:
        """``, 950 env steps/s, ETA 1:05``: the rate of the last log, and the ETA at that
        rate (the average since the start would count the warm-up's random steps, many
        times faster than learning ones, and promise too early an end)."""
        out = "" if self._rate is None else f", {self._rate:,.0f} {self.unit}s/s"
        elapsed, done = time.time() - self._start, self.n - self._start_n
        rate = self._rate if self._rate else (done / elapsed if elapsed > 0 else 0.0)
        if rate > 0 and self.n < self.total:
            out += f", ETA {clock((self.total - self.n) / rate)}"
        return out

    def write(self, line: str) -> None:
        """A line of text: above the bar (on stderr, as the bar), or a plain line."""
        if self._bar is not None:
            self._bar.write(line, file=sys.stderr)
        elif self.mode == "plain":
            say(f"[{clock(time.time() - self._start)}] {line}")
        else:
            print(line, file=sys.stderr)

    def close(self) -> None:
        if self._bar is not None:
            self._bar.close()
