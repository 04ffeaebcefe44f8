#!/usr/bin/env bash
# The mini suite: 5 DMC easy tasks x 3 seeds x 100k env steps with simbav2-small,
# run by `simbarl sweep` on this machine's cores, then the normalized-score table
# beside the published SimbaV2 (UTD 2) score at 100k env steps.
#
#   bash benchmarks/mini_suite.sh                 # local process pool, one run per core
#   bash benchmarks/mini_suite.sh --workers 1     # extra flags go to simbarl sweep
#   OUT=/shared/mini bash benchmarks/mini_suite.sh --backend ray --address auto
#   BUDGET=1000000 OUT=benchmarks/results/mini_suite_1m bash benchmarks/mini_suite.sh
#       # the published 1M-step schedule, each run ended at 100k (simbarl sweep --until)
#   TASKS=dmc:finger-spin,dmc:reacher-easy ...   # a subset of the five
#
# Resumable: run it again after an interruption and finished runs are skipped.
# Writes $OUT/results.csv, $OUT/scores.txt, $OUT/scores.json and the figures.
set -euo pipefail
cd "$(dirname "$0")/.."
SIMBARL=${SIMBARL:-$( [ -x .venv/bin/simbarl ] && echo .venv/bin/simbarl || echo simbarl )}
OUT=${OUT:-benchmarks/results/mini_suite}
TASKS=${TASKS:-dmc:cartpole-swingup,dmc:cheetah-run,dmc:finger-spin,dmc:reacher-easy,dmc:walker-walk}
BUDGET=${BUDGET:-100000}  # env steps the learning-rate schedule spans; runs end at 100k
UNTIL=()
[ "$BUDGET" -gt 100000 ] && UNTIL=(--until 100000)
start=$(date +%s)
"$SIMBARL" sweep --tasks "$TASKS" --seeds 3 --config simbav2-small --steps "$BUDGET" \
  "${UNTIL[@]}" --set eval_every=20000 --out "$OUT" "$@"
[[ " $* " == *" --dry-run "* ]] && exit 0
"$SIMBARL" scores "$OUT/results.csv" --step 100000 --json "$OUT/scores.json"
"$SIMBARL" plot "$OUT/results.csv" --out "$OUT"
echo "wall clock of this invocation: $(( $(date +%s) - start )) s on $(nproc --all) cores" \
  "($(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs))"
