#!/usr/bin/env bash
# What the training-dynamics probe costs, measured directly: the same run (same
# preset, task, seed and budget) trained twice at the same time, once with the
# probe at the default interval (--analyze-every 10000) and once with it off
# (--analyze-every 0), each on one XLA thread of its own core so that both see the
# same machine. Writes $OUT/overhead.json with both wall clocks, their ratio and the
# probe's own time (the sum of perf/probe_s, its compilation included).
#
#   bash benchmarks/dynamics_overhead.sh                        # 50k env steps
#   STEPS=4000 WARMUP=1000 EVERY=1000 OUT=/tmp/ovh bash benchmarks/dynamics_overhead.sh
#
# Two runs side by side on a 2-core machine differ by a few percent by chance (which
# core, the host's other load), more than a probe every 10,000 steps costs; the
# probe's own time is the finer measurement and the pair checks it against the wall.
set -euo pipefail
cd "$(dirname "$0")/.."
SIMBARL=${SIMBARL:-$( [ -x .venv/bin/simbarl ] && echo .venv/bin/simbarl || echo simbarl )}
PYTHON=${PYTHON:-$( [ -x .venv/bin/python ] && echo .venv/bin/python || echo python3 )}
ENV=${ENV:-dmc:cheetah-run}
PRESET=${PRESET:-simbav2-small}
STEPS=${STEPS:-50000}
WARMUP=${WARMUP:-5000}
EVERY=${EVERY:-10000}
EVAL_EVERY=${EVAL_EVERY:-10000}
OUT=${OUT:-benchmarks/results/dynamics_overhead}
mkdir -p "$OUT"
export OMP_NUM_THREADS=1 XLA_FLAGS=${XLA_FLAGS:---xla_cpu_multi_thread_eigen=false}
one() {  # one NAME ANALYZE_EVERY
  rm -rf "${OUT:?}/$1"
  local t0; t0=$(date +%s.%N)
  "$SIMBARL" train --preset "$PRESET" --env "$ENV" --seed 0 --steps "$STEPS" \
    --warmup-steps "$WARMUP" --eval-every "$EVAL_EVERY" --analyze-every "$2" \
    --run-dir "$OUT/$1" --no-progress --no-checkpoint > "$OUT/$1.log" 2>&1
  "$PYTHON" -c "print($(date +%s.%N) - $t0)" > "$OUT/$1.seconds"
}
echo "== $PRESET on $ENV, $STEPS env steps: probe every $EVERY and off, side by side"
one on "$EVERY" &
one off 0 &
wait
"$PYTHON" - "$OUT" "$EVERY" <<'EOF'
import json, os, sys, time
from pathlib import Path

sys.path.insert(0, "benchmarks")
from simbarl.runs.metrics import read_metrics
from throughput import cpu_name

out, every = Path(sys.argv[1]), int(sys.argv[2])
on, off = (float((out / f"{n}.seconds").read_text()) for n in ("on", "off"))
rows = read_metrics(out / "on")
probes = [r["perf/probe_s"] for r in rows if "perf/probe_s" in r]
cfg = json.loads((out / "on" / "config.json").read_text())
import jax

result = {
    "meta": {"machine": cpu_name(), "cpu_count": os.cpu_count(), "jax": jax.__version__,
             "date": time.strftime("%Y-%m-%d")},
    "env": cfg["env"], "preset": cfg["preset"], "steps": cfg["steps"], "analyze_every": every,
    "wall_on_s": on, "wall_off_s": off, "wall_ratio_on_over_off": on / off,
    "probe_calls": len(probes), "probe_s": sum(probes), "probe_first_s": probes[0] if probes else 0,
    "probe_share_of_wall": sum(probes) / on,
}
(out / "overhead.json").write_text(json.dumps(result, indent=1) + "\n")
print(f"probe on: {on:.0f} s, off: {off:.0f} s, ratio {on / off:.3f}; "
      f"{len(probes)} probes took {sum(probes):.2f} s ({100 * sum(probes) / on:.2f}% of the wall), "
      f"the first (compiling) {result['probe_first_s']:.2f} s")
EOF
