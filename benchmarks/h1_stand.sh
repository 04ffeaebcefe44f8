#!/usr/bin/env bash
# HumanoidBench learning run (issue 25): simbav2-small on h1-stand-v0, 2 seeds, the
# published 1M-step schedule read at 300k env steps (action repeat 2: 150k agent
# steps), an evaluation every 50k, run by `simbarl sweep` on this machine's cores,
# then the table at 300k beside the published SimbaV2 curve.
#
#   bash benchmarks/h1_stand.sh                  # one run per core
#   SEEDS=5 bash benchmarks/h1_stand.sh          # more seeds (the first two are kept)
#
# Needs HumanoidBench installed (docs/guides/humanoid_bench.md). Resumable: run it
# again after an interruption (Ctrl-C checkpoints both runs). Finished runs can be
# committed as they are (checkpoints, TensorBoard files and logs are git-ignored).
# The docs' table (results-h1-stand) reads $OUT/results.csv and the runs' metrics.
set -euo pipefail
cd "$(dirname "$0")/.."
SIMBARL=${SIMBARL:-$( [ -x .venv/bin/simbarl ] && echo .venv/bin/simbarl || echo simbarl )}
OUT=${OUT:-benchmarks/results/h1_stand}
SEEDS=${SEEDS:-2}
start=$(date +%s)
"$SIMBARL" sweep --tasks h1-stand-v0 --seeds "$SEEDS" --config simbav2-small \
  --steps 1000000 --until 300000 --set eval_every=50000 --out "$OUT" "$@"
[[ " $* " == *" --dry-run "* ]] && exit 0
"$SIMBARL" scores "$OUT/results.csv" --step 300000 --json "$OUT/scores.json" | tee "$OUT/scores.txt"
echo "wall clock of this invocation: $(( $(date +%s) - start )) s on $(nproc --all) cores" \
  "($(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs))"
