"""What the commands that start a run share: the config their flags start from, and
how a failed run is reported (``simbarl train``, ``simbarl evolve``)."""

from __future__ import annotations

import sys

from simbarl.config import (
    DEFAULT_PRESET,
    TrainConfig,
    apply_overrides,
    config_from_dict,
    config_to_dict,
    parse_config,
    preset,
)
from simbarl.config import preset_name as canonical_preset
from simbarl.runs import run_dir as rd
from simbarl.runs.finite import NonFiniteError
from simbarl.train.warm_start import init_config, online_preset


def start_config(preset_name=None, config_file=None, init_from=None, resume=None):
    """The ``TrainConfig`` a command's flags start from: ``--config FILE`` (a JSON file of
    config fields), ``--resume RUN``'s, ``--init-from RUN``'s, or ``--preset``'s."""
    if config_file:  # a JSON file of config fields, e.g. simbarl tune's best_config.json
        if resume or init_from or preset_name:
            raise ValueError(
                "--config names its own preset; it excludes --preset, --resume and --init-from"
            )
        return config_from_dict(parse_config(config_file)[1])
    if resume:
        base = rd.load_config(resume)
        if preset_name and canonical_preset(preset_name) != canonical_preset(base.preset):
            raise ValueError(f"{resume} was started from preset {base.preset!r}")
        return base
    if init_from:
        name = preset_name or online_preset(init_from)
        return init_config(init_from, preset(name))
    return preset(preset_name or DEFAULT_PRESET)


def with_overrides(cfg: TrainConfig, overrides: list[str]) -> TrainConfig:
    """``cfg`` with ``--set KEY=VALUE`` overrides (``config.config_flags``) applied."""
    if not overrides:
        return cfg
    return config_from_dict(apply_overrides(config_to_dict(cfg), overrides))


def no_progress_flag(argv: list[str]) -> list[str]:
    """``argv`` with ``--no-progress`` written as ``--progress off``, which it means."""
    out = []
    for a in argv:
        out += ["--progress", "off"] if a == "--no-progress" else [a]
    return out


def run_reporting_errors(prog: str, run):
    """``(run(), None)``, or ``(None, exit code)`` with the error printed: bad input 2,
    divergence 1, a failed write (full disk, lost mount) 1 with how to go on, a run a
    signal stopped at once (``stop.Aborted``: during start-up, or a second one) 130."""
    try:
        return run(), None
    except KeyboardInterrupt as e:  # Aborted says what is left
        print(f"{prog}: {e or 'stopped by Ctrl-C or SIGTERM'}", file=sys.stderr)
        return None, 130
    except ValueError as e:
        print(f"{prog}: error: {e}", file=sys.stderr)
        return None, 2
    except NonFiniteError as e:
        print(f"{prog}: error: {e}", file=sys.stderr)
        return None, 1
    except OSError as e:  # a full disk or a lost mount while logging
        run_dir = getattr(e, "run_dir", None)  # a RunWriteError names its run
        print(
            f"{prog}: error: {e}. Files already written are whole; free disk space "
            f"or fix the filesystem, then continue with --resume {run_dir or 'RUN'}",
            file=sys.stderr,
        )
        return None, 1
