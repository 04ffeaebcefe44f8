#!/usr/bin/env bash
# Evolution against independent runs and an Optuna study at equal total env steps
# (issue 23): on each task, simbav2-small,
#   evolve       simbarl evolve, POPULATION members, GENERATIONS x EVO_STEPS each
#   independent  POPULATION simbarl train runs of the default config, as many steps each
#   tune         simbarl tune, POPULATION trials of as many steps (median pruning),
#                one worker per core like the sweep (TUNE_WORKERS sets it),
#                searching TUNE_SPACE (default benchmarks/tune_space_cpu.json: sizes no
#                larger than simbav2-small's, so no trial is slower than the other arms;
#                TUNE_SPACE= searches the built-in space, which reaches width 512, UTD 4)
# so every arm spends POPULATION x GENERATIONS x EVO_STEPS env steps. Then
# benchmarks/evolve_table.py writes the table (best and mean final return, env
# steps spent, wall clock) to $OUT/evolve.json.
#
#   bash benchmarks/evolve.sh                                     # the defaults below
#   GENERATIONS=5 EVO_STEPS=4000 TASKS="Pendulum-v1" bash benchmarks/evolve.sh   # a smoke run
#
# Resumable: an arm that finished is skipped, evolve resumes from its checkpoint,
# the sweep and the study continue where they stopped.
set -euo pipefail
cd "$(dirname "$0")/.."
SIMBARL=${SIMBARL:-$( [ -x .venv/bin/simbarl ] && echo .venv/bin/simbarl || echo simbarl )}
PY=${PY:-$( [ -x .venv/bin/python ] && echo .venv/bin/python || echo python3 )}
OUT=${OUT:-benchmarks/results/evolve}
TASKS=${TASKS:-"dmc:cartpole-swingup dmc:cheetah-run"}
POPULATION=${POPULATION:-4}
CORES=$(nproc --all)
TUNE_WORKERS=${TUNE_WORKERS:-$(( CORES < POPULATION ? CORES : POPULATION ))}  # as the sweep uses them
GENERATIONS=${GENERATIONS:-10}
EVO_STEPS=${EVO_STEPS:-10000}
TUNE_SPACE=${TUNE_SPACE-benchmarks/tune_space_cpu.json}
STEPS=$(( GENERATIONS * EVO_STEPS ))
mkdir -p "$OUT"

timed() {  # timed ARM_DIR command...: wall clock of each invocation, appended, also of
  local dir=$1; shift  # one that was interrupted (Ctrl-C checkpoints; the next resumes)
  mkdir -p "$dir"
  local start rc=0; start=$(date +%s)
  "$@" || rc=$?
  echo "$(( $(date +%s) - start ))" >> "$dir/wall_clock_s.txt"
  return "$rc"
}

for task in $TASKS; do
  slug=${task//:/-}
  base="$OUT/$slug"
  if [ -f "$base/evolve/checkpoint.npz" ] && [ -f "$base/evolve/evolve.json" ]; then
    [ -f "$base/evolve/best_config.json" ] && [ "$(wc -l < "$base/evolve/population.jsonl")" -ge $(( POPULATION * GENERATIONS )) ] \
      || timed "$base/evolve" "$SIMBARL" evolve --resume "$base/evolve"
  else
    timed "$base/evolve" "$SIMBARL" evolve --env "$task" --preset simbav2-small \
      --population "$POPULATION" --generations "$GENERATIONS" --evo-steps "$EVO_STEPS" \
      --run-dir "$base/evolve"
  fi
  timed "$base/independent" "$SIMBARL" sweep --tasks "$task" --seeds "$POPULATION" \
    --steps "$STEPS" --config simbav2-small --set eval_every="$EVO_STEPS" \
    --out "$base/independent"
  if "$PY" -c "import optuna" 2>/dev/null; then
    timed "$base/tune" "$SIMBARL" tune --env "$task" --preset simbav2-small \
      --trials "$POPULATION" --workers "$TUNE_WORKERS" --steps "$STEPS" --set eval_every="$EVO_STEPS" \
      ${TUNE_SPACE:+--space "$TUNE_SPACE"} --out "$base/tune"
  else
    echo "optuna is not installed (pip install -e '.[tune]'): the tune arm is left out"
  fi
done
"$PY" benchmarks/evolve_table.py "$OUT" --json "$OUT/evolve.json"
