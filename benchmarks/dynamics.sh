#!/usr/bin/env bash
# Training dynamics of SimBa vs SimbaV2 (the SimbaV2 paper's Fig. 4) on this machine:
# train `simba` and `simbav2-small` at the small widths (critic 128, actor 64) for
# SEEDS seeds each on ENV, with the dynamics probe every ANALYZE_EVERY env steps,
# draw the figure with `simbarl analyze` and print the table (first vs last value of
# each norm, coefficient of variation of the effective learning rate over the second
# half, final return, probe overhead).
#
#   bash benchmarks/dynamics.sh                  # the full protocol: 6 runs x 100k steps
#   STEPS=4000 ANALYZE_EVERY=1000 WARMUP=1000 SEEDS=1 EVAL_EVERY=2000 OUT=/tmp/dyn \
#     bash benchmarks/dynamics.sh                # a smoke test (minutes)
#
# Overhead: each dynamics row carries perf/probe_s, the probe's wall time (its first
# call includes compiling it); the table divides their sum by each run's wall clock.
# OFF_RUN=1 also trains seed 0 of simbav2-small with --analyze-every 0 and prints the
# two wall clocks side by side (a direct but noisier measurement on a shared machine);
# benchmarks/dynamics_overhead.sh makes that comparison with both runs at the same time.
#
# JOBS=N trains N runs at a time, each on one XLA thread (as `simbarl sweep` does); the
# default JOBS=1 runs them one after another with XLA's own thread pool. Per-run wall
# clocks (and so the OFF_RUN comparison) are only comparable within one JOBS setting.
#
# Resumable: a finished run leaves $OUT/<run>.seconds and is skipped when run again.
# Finished runs can be committed as they are (checkpoints and TensorBoard files are
# git-ignored under benchmarks/results/), so the benchmark can go on in another checkout.
set -euo pipefail
cd "$(dirname "$0")/.."
SIMBARL=${SIMBARL:-$( [ -x .venv/bin/simbarl ] && echo .venv/bin/simbarl || echo simbarl )}
PYTHON=${PYTHON:-$( [ -x .venv/bin/python ] && echo .venv/bin/python || echo python3 )}
ENV=${ENV:-dmc:cheetah-run}
STEPS=${STEPS:-100000}
ANALYZE_EVERY=${ANALYZE_EVERY:-5000}
EVAL_EVERY=${EVAL_EVERY:-10000}
WARMUP=${WARMUP:-5000}
SEEDS=${SEEDS:-3}
JOBS=${JOBS:-1}
OUT=${OUT:-benchmarks/results/dynamics}
SMALL="--agent.critic.width 128 --agent.actor.width 64"  # simba's preset is 512/128
mkdir -p "$OUT"
start=$(date +%s)
CORES=$(nproc)  # before OMP_NUM_THREADS below changes what nproc says
run() {  # run NAME PRESET SEED ANALYZE_EVERY
  local name=$1 preset=$2 seed=$3 every=$4
  if [ -e "$OUT/$name.seconds" ]; then echo "== $name: done before, skipped"; return; fi
  rm -rf "${OUT:?}/$name"
  echo "== $name: $preset seed $seed, $STEPS env steps, analysis every $every"
  local t0; t0=$(date +%s)
  # shellcheck disable=SC2086
  "$SIMBARL" train --preset "$preset" --env "$ENV" --seed "$seed" --steps "$STEPS" $SMALL \
    --warmup-steps "$WARMUP" --eval-every "$EVAL_EVERY" --analyze-every "$every" \
    --run-dir "$OUT/$name" --no-progress
  echo $(( $(date +%s) - t0 )) > "$OUT/$name.seconds"
}
if [ "$JOBS" -gt 1 ]; then
  export OMP_NUM_THREADS=1 XLA_FLAGS=${XLA_FLAGS:---xla_cpu_multi_thread_eigen=false}
fi
launch() {  # launch NAME PRESET SEED ANALYZE_EVERY: run it, at most JOBS at a time
  if [ "$JOBS" -le 1 ]; then run "$@"; return; fi
  while [ "$(jobs -rp | wc -l)" -ge "$JOBS" ]; do wait -n; done
  run "$@" > "$OUT/$1.log" 2>&1 &
  echo "== $1: started in the background, log in $OUT/$1.log"
}
runs=()
for preset in simba simbav2-small; do
  for seed in $(seq 0 $(( SEEDS - 1 ))); do
    launch "$preset-seed$seed" "$preset" "$seed" "$ANALYZE_EVERY"
    runs+=("$OUT/$preset-seed$seed")
  done
done
if [ "${OFF_RUN:-0}" = 1 ]; then
  launch "simbav2-small-seed0-off" simbav2-small 0 0
fi
while [ "$(jobs -rp | wc -l)" -gt 0 ]; do wait -n; done  # a failed run fails the script
"$SIMBARL" analyze "${runs[@]}" --out "$OUT" --csv
"$PYTHON" benchmarks/dynamics_table.py "$OUT" "${runs[@]}"
echo "wall clock of this invocation: $(( $(date +%s) - start )) s on $CORES cores" \
  "($(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs))"
