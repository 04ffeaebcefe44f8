#!/usr/bin/env bash
# Recency-weighted replay (issue 29): simbav2-small on dmc:cartpole-swingup and
# dmc:cheetah-run, 100k env steps, 3 seeds, uniform against
# --replay.recency-decay-steps 80000 and 20000 (18 runs), run by `simbarl sweep`
# on this machine's cores, then the table at 100k env steps.
#
#   bash benchmarks/recency_replay.sh                 # one run per core
#   bash benchmarks/recency_replay.sh --workers 1     # extra flags go to simbarl sweep
#
# Resumable: run it again after an interruption and finished runs are skipped.
# Finished runs can be committed as they are (checkpoints and TensorBoard files are
# git-ignored under benchmarks/results/), so the benchmark can go on in another checkout.
# Writes $OUT/results.csv, $OUT/scores.txt, $OUT/scores.json and, from the finished
# run directories, $OUT/recency_replay.json (benchmarks/recency_table.py: the docs' table).
set -euo pipefail
cd "$(dirname "$0")/.."
SIMBARL=${SIMBARL:-$( [ -x .venv/bin/simbarl ] && echo .venv/bin/simbarl || echo simbarl )}
PY=${PY:-$( [ -x .venv/bin/python ] && echo .venv/bin/python || echo python3 )}
OUT=${OUT:-benchmarks/results/recency_replay}
start=$(date +%s)
"$SIMBARL" sweep --tasks dmc:cartpole-swingup dmc:cheetah-run --seeds 3 --steps 100000 \
  --config uniform=simbav2-small \
  --config decay80k=simbav2-small:replay.recency_decay_steps=80000 \
  --config decay20k=simbav2-small:replay.recency_decay_steps=20000 \
  --set eval_every=20000 --out "$OUT" "$@"
[[ " $* " == *" --dry-run "* ]] && exit 0
"$SIMBARL" scores "$OUT/results.csv" --step 100000 --json "$OUT/scores.json" | tee "$OUT/scores.txt"
"$PY" benchmarks/recency_table.py "$OUT"
echo "wall clock of this invocation: $(( $(date +%s) - start )) s on $(nproc --all) cores" \
  "($(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs))"
