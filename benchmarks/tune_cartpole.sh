#!/usr/bin/env bash
# The tuning study of the tune guide, measured: simbarl tune on dmc:cartpole-swingup
# with simbav2-small, 16 trials of 50k env steps, 2 workers, median pruning, then
# the default config and the best config trained again at the same budget.
#
#   bash benchmarks/tune_cartpole.sh
#   TRIALS=3 STEPS=3000 EVAL_EVERY=1000 INTERRUPT_AFTER=60 OUT=/tmp/tc bash benchmarks/tune_cartpole.sh
#
# 1. The study starts in a process group of its own; after INTERRUPT_AFTER seconds
#    the group gets SIGINT (what Ctrl-C in a terminal sends), and the workers
#    checkpoint their trials and stop. 0 skips the interruption.
# 2. The same command again continues the study to TRIALS trials: the numbering goes
#    on and the interrupted trials resume from their checkpoints.
# 3. The default config (seeds 0 and 1) and the study's best_config.json (seeds 1 and
#    2, not the seed the study picked it on) train at the same budget, two at a time.
# 4. benchmarks/tune_table.py writes $OUT/tune_cartpole.json.
# Every phase that has finished is skipped when the script runs again.
#
# The search space is benchmarks/tune_space_cpu.json: the default SimbaV2 space cut
# to sizes no larger than simbav2-small's, so that 16 trials fit in about two hours
# on a 2-core CPU (the default space reaches critic width 512 and UTD 4).
set -euo pipefail
cd "$(dirname "$0")/.."
SIMBARL=${SIMBARL:-$( [ -x .venv/bin/simbarl ] && echo .venv/bin/simbarl || echo simbarl )}
PYTHON=${PYTHON:-$( [ -x .venv/bin/python ] && echo .venv/bin/python || echo python3 )}
ENV=${ENV:-dmc:cartpole-swingup}
PRESET=${PRESET:-simbav2-small}
TRIALS=${TRIALS:-16}
STEPS=${STEPS:-50000}
EVAL_EVERY=${EVAL_EVERY:-10000}
WORKERS=${WORKERS:-2}
SPACE=${SPACE:-benchmarks/tune_space_cpu.json}
INTERRUPT_AFTER=${INTERRUPT_AFTER:-1800}
OUT=${OUT:-benchmarks/results/tune_cartpole}
STUDY="$OUT/study"
mkdir -p "$OUT"

tune() {
  "$SIMBARL" tune --env "$ENV" --preset "$PRESET" --trials "$TRIALS" --steps "$STEPS" \
    --set eval_every="$EVAL_EVERY" --workers "$WORKERS" --pruner median \
    --space "$SPACE" --out "$STUDY"
}
now() { date +%s.%N; }
elapsed() { "$PYTHON" -c "print(round($(now) - $1, 1))"; }

if [ ! -f "$OUT/interrupted.seconds" ]; then
  echo "== study, interrupted after ${INTERRUPT_AFTER} s"
  t0=$(now)
  # A script's background job starts with SIGINT ignored, and Python keeps it so;
  # the study gets SIGINT back (default action) before it starts, so that it and
  # its workers take the signal as a terminal's Ctrl-C.
  export SIMBARL ENV PRESET TRIALS STEPS EVAL_EVERY WORKERS SPACE STUDY
  setsid "$PYTHON" -c 'import os, signal, sys
signal.signal(signal.SIGINT, signal.SIG_DFL)
os.execvp(sys.argv[1], sys.argv[1:])' bash -c "$(declare -f tune); tune" \
    > "$OUT/study-1.log" 2>&1 &
  pid=$!
  if [ "$INTERRUPT_AFTER" -gt 0 ]; then
    for _ in $(seq "$INTERRUPT_AFTER"); do kill -0 "$pid" 2>/dev/null || break; sleep 1; done
    kill -INT -- "-$pid" 2>/dev/null || true
  fi
  wait "$pid" || true
  elapsed "$t0" > "$OUT/interrupted.seconds"
  tail -n 5 "$OUT/study-1.log"
fi
if [ ! -f "$OUT/resumed.seconds" ]; then
  echo "== study, the same command again"
  t0=$(now)
  tune > "$OUT/study-2.log" 2>&1
  elapsed "$t0" > "$OUT/resumed.seconds"
  tail -n 25 "$OUT/study-2.log"
fi

export OMP_NUM_THREADS=1 XLA_FLAGS=${XLA_FLAGS:---xla_cpu_multi_thread_eigen=false}
confirm() {  # confirm NAME SEED [train args...]: one confirmation run, skipped when done
  local name=$1 seed=$2; shift 2
  [ -f "$OUT/confirm/$name-seed$seed.seconds" ] && return 0
  rm -rf "${OUT:?}/confirm/$name-seed$seed"
  local t0; t0=$(now)
  "$SIMBARL" train "$@" --env "$ENV" --steps "$STEPS" --eval-every "$EVAL_EVERY" \
    --seed "$seed" --run-dir "$OUT/confirm/$name-seed$seed" --no-progress \
    > "$OUT/confirm/$name-seed$seed.log" 2>&1
  elapsed "$t0" > "$OUT/confirm/$name-seed$seed.seconds"
}
mkdir -p "$OUT/confirm"
echo "== the default config and the best config at $STEPS env steps"
confirm default 0 --preset "$PRESET" & confirm default 1 --preset "$PRESET" & wait
confirm best 1 --config "$STUDY/best_config.json" & confirm best 2 --config "$STUDY/best_config.json" & wait
"$PYTHON" benchmarks/tune_table.py "$OUT"  # writes $OUT/tune_cartpole.json
