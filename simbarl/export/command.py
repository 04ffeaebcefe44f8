"""``simbarl export RUN --onnx FILE --policy FILE``: a trained policy for deployment."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

DESCRIPTION = (
    "Export a run's trained policy (its latest checkpoint): --onnx writes an ONNX model "
    "(input 'obs' float32 [batch, obs_dim] of raw observations, output 'action' float32 "
    "[batch, action_dim] in the task's units; runs with onnxruntime alone, no simbarl or "
    "JAX; needs the export extra), --policy a policy-only .npz (actor, observation "
    "normalization, action bounds, config: no replay buffer, critics or optimizer "
    "states) that simbarl.load_policy reads. RUN may also be such a policy file. An "
    "existing output file is kept unless --force is given."
)


def _size(path: Path) -> str:
    size = path.stat().st_size
    return f"{size / 1e6:.2f} MB" if size >= 1e5 else f"{size / 1e3:.1f} kB"


def _outputs(args) -> list[tuple[str, Path]]:
    """The files to write, checked before anything is loaded."""
    named = (("policy", args.policy), ("onnx", args.onnx))
    outputs = [(kind, Path(p)) for kind, p in named if p]
    if not outputs:
        raise ValueError("nothing to export: give --onnx FILE, --policy FILE or both")
    if len(outputs) == 2 and outputs[0][1].resolve() == outputs[1][1].resolve():
        raise ValueError("--onnx and --policy name the same file")
    for _, path in outputs:
        if path.is_dir():
            raise ValueError(f"{path} is a directory: give a file name")
        if path.exists() and not args.force:
            raise ValueError(f"{path} exists: pass --force to replace it")
        if path.resolve() == Path(args.run).resolve():
            raise ValueError(f"{path} is the policy file being read: write another file")
    return outputs


def _load(run: str):
    """The policy of a run directory (its checkpoint) or of a policy file; the
    checkpoint's path when it came from a run."""
    from simbarl.runs import run_dir as rd
    from simbarl.runs.load import load_agent
    from simbarl.runs.policy_file import load_policy

    path = Path(run)
    if path.is_file():
        return load_policy(path), None
    return load_agent(path).to_policy(), path / rd.CHECKPOINT_FILE


def export_cli(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="simbarl export", description=DESCRIPTION)
    parser.add_argument("run", help="run directory written by simbarl train (or a policy file)")
    parser.add_argument("--onnx", metavar="FILE", help="write the ONNX model here")
    parser.add_argument("--policy", metavar="FILE", help="write the policy-only .npz here")
    parser.add_argument("--force", action="store_true", help="replace existing output files")
    args = parser.parse_args(argv)
    try:
        outputs = _outputs(args)
        if args.onnx:
            from simbarl.export.onnx_model import missing

            if (why := missing()) is not None:
                raise ValueError(why)
        policy, checkpoint = _load(args.run)
        for kind, path in outputs:
            if kind == "policy":
                policy.save(path)
                what = f"policy file {path} ({_size(path)}"
                what += f"; the run's checkpoint: {_size(checkpoint)})" if checkpoint else ")"
                print(f"{what}: load it with simbarl.load_policy({str(path)!r})")
            else:
                from simbarl.export.onnx_model import CHECK_OBSERVATIONS, OPSET, write_onnx

                diff = write_onnx(policy, path)
                print(
                    f"ONNX model {path} ({_size(path)}, opset {OPSET}): input 'obs' float32 "
                    f"[batch, {policy.obs_dim}], output 'action' float32 [batch, "
                    f"{policy.action_dim}] in the task's units; onnxruntime agrees with "
                    f"simbarl to {diff:.1g} on {CHECK_OBSERVATIONS} observations"
                )
    except ValueError as e:
        print(f"simbarl export: error: {e}", file=sys.stderr)
        return 2
    return 0
