#!/usr/bin/env bash
# The mini suite: 5 DMC easy tasks x 3 seeds x 100k env steps with simbav2-small,
# run by `simbarl sweep` on this machine's cores, then the normalized-score table
# beside the published SimbaV2 (UTD 2) score at 100k env steps.
#
#   bash benchmarks/mini_suite.sh                 # local process pool, one run per core
#   bash benchmarks/mini_suite.sh --workers 1     # extra flags go to simbarl sweep
#   OUT=/shared/mini bash benchmarks/mini_suite.sh --backend ray --address auto
#
# Resumable: run it again after an interruption and finished runs are skipped.
# Writes $OUT/results.csv, $OUT/scores.txt, $OUT/scores.json and the figures.
set -euo pipefail
cd "$(dirname "$0")/.."
SIMBARL=${SIMBARL:-$( [ -x .venv/bin/simbarl ] && echo .venv/bin/simbarl || echo simbarl )}
OUT=${OUT:-benchmarks/results/mini_suite}
TASKS=dmc:cartpole-swingup,dmc:cheetah-run,dmc:finger-spin,dmc:reacher-easy,dmc:walker-walk
start=$(date +%s)
"$SIMBARL" sweep --tasks "$TASKS" --seeds 3 --config simbav2-small --steps 100000 \
  --set eval_every=20000 --out "$OUT" "$@"
[[ " $* " == *" --dry-run "* ]] && exit 0
"$SIMBARL" scores "$OUT/results.csv" --step 100000 --json "$OUT/scores.json"
"$SIMBARL" plot "$OUT/results.csv" --out "$OUT"
echo "wall clock of this invocation: $(( $(date +%s) - start )) s on $(nproc) cores" \
  "($(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs))"
