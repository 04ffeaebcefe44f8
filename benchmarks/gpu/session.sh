#!/usr/bin/env bash
# The GPU measurements the issues ask for, in parts that each fit one 10-minute
# command on a lent GPU machine (run fetch_wheels.sh first, carry .whl):
#
#   a: full-size update throughput (issue 2) and the device loop on
#      mjx:CartpoleBalance: N in 64/1024/4096, and time to 900 with the
#      device-task defaults (issues 5, 48)                               ~6 min
#   t: the throughput half of a alone (no Playground wheels needed)      ~1.5 min
#   b: 10 vmapped seeds against 10 separate processes (issue 4)          ~4 min
#   c: full-size SimbaV2 on HalfCheetah-v5 toward 100k env steps, to compare
#      with the published curve (issue 2); what time allows               <= 9 min
#   d: full-size update, float32 against bfloat16 matmuls (issue 28)     ~3 min
#   e: an evolve population of 1/4/8/16 members, vmapped against one call
#      per member (issue 23)                                             ~5 min
#   f: issue 26 on a GPU, two runs side by side: full-size simbav2 on
#      dmc:walker-walk (FULL_TASK; 2 seeds vmapped, the published 1M budget
#      read at 100k: 6 min on an H200) and the HalfCheetah-v4 sac row
#      (simbav2-small, 3 seeds vmapped, 100k: reached 50k in the 7 minutes;
#      HALFCHEETAH=0 leaves it out); each run's evaluations kept         ~7 min
#   g: FlashSAC on MuJoCo Playground (issue 44): flashsac-parallel, the official
#      GPU settings, on mjx:T1JoystickFlatTerrain (FLASH_TASK) for what the
#      time limit allows, evaluated every ~1M env steps (published: 6.4 at
#      5.5M env steps, FLASHSAC.md section 7); SMOKE=1 runs it at tiny sizes
#      on jax:PointMass (no Playground needed)                          <= 9 min
#   h: the parallel recipes (parallel-sac, parallel-td3, flashsac-parallel)
#      on mjx:CheetahRun until RETURN (600), a third of the limit each    <= 9 min
#   i: the same on brax:humanoid until RETURN (5000): Brax's own model,
#      no MuJoCo Menagerie download                                      <= 9 min
#   j: the host loop's share of the full-size update rate without and with
#      --overlap (issue 48), interleaved A/B rounds on HalfCheetah-v5     ~5 min
#   k: a device population's step (simbarl evolve on mjx:CartpoleBalance)
#      for 1, 4, 8 and 16 members against one member's (issue 48)        ~4 min
#   l: FlashSAC at the published size on HalfCheetah-v4, the published 1M budget
#      read at 100k (issue 44; JAX_DEFAULT_MATMUL_PRECISION=highest), in pieces:
#      each call trains what the limit allows into $OUT/flashsac_full and the
#      next call resumes it when that folder is carried back (carry
#      benchmarks/results/gpu/flashsac_full); SEEDS picks the seeds     <= 9 min
#
#   bash benchmarks/gpu/session.sh a    # results in $OUT (default benchmarks/results/gpu)
#   SMOKE=1 bash benchmarks/gpu/session.sh a   # tiny sizes: checks the commands on a CPU
#   LIMIT=100 EVO_ENV=dmc:cartpole-swingup MEMBERS="1 4 8" bash benchmarks/gpu/session.sh e
#                                       # a part's time limit (s) and e's task and sizes
#
# Every benchmark writes its JSON as it goes, so a part stopped by its time limit
# keeps what it measured.
set -uo pipefail
cd "$(dirname "$0")/../.."
PART=${1:?part a, b, c, d, e, f, g, h, i, j, k, l or t}
OUT=${OUT:-benchmarks/results/gpu}
mkdir -p "$OUT"
export PYTHONUNBUFFERED=1
if [ -d .whl ]; then
  [ -d /tmp/site ] || python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir \
    --upgrade --target /tmp/site .whl/*.whl || exit 1
  export PYTHONPATH=/tmp/site:$PWD
fi
# dm_control without its locomotion and dog assets (fetch_wheels.sh): dmc: tasks
if [ -d .gpu_site ]; then export PYTHONPATH=$PWD/.gpu_site:${PYTHONPATH:-$PWD}; fi
PY=${PYTHON:-python3}
nvidia-smi -L 2>/dev/null
$PY -c "import jax; print('jax', jax.__version__, jax.devices())"
S=${SMOKE:-0}
pick() { if [ "$S" = 1 ]; then echo "$2"; else echo "$1"; fi; }  # full, smoke

case $PART in
a | t)
  timeout "$(pick 200 120)" $PY benchmarks/throughput.py --env HalfCheetah-v5 \
    --presets $(pick "simbav2 simbav2-small flashsac" "simbav2-small flashsac") --algos sac \
    --seconds "$(pick 10 1)" --loop-steps "$(pick 300 20)" --json "$OUT/throughput_gpu.json"
  [ "$PART" = t ] && { ls -la "$OUT"; exit 0; }
  timeout "$(pick 180 300)" $PY benchmarks/device_loop.py --tasks mjx:CartpoleBalance \
    --preset "$(pick parallel-sac simbav2-small)" --batch-size "$(pick 8192 64)" \
    --updates-per-step 2 --num-envs $(pick "64 1024 4096" "16") --iterations "$(pick 40 8)" \
    --json "$OUT/device_loop_gpu.json"
  # time to 900 as `simbarl train --env mjx:CartpoleBalance` runs it (smoke: a tiny run)
  timeout "$(pick 180 300)" $PY benchmarks/device_learning.py --only solve --seeds 0 \
    $([ "$S" = 1 ] && echo "--set steps=2000 eval_every=1000 warmup_steps=256 agent.critic.width=32") \
    --json "$OUT/device_learning_gpu.json"
  ;;
b)
  timeout "$(pick 300 500)" $PY benchmarks/vmap_seeds.py --env HalfCheetah-v5 \
    --preset "$(pick simbav2 simbav2-small)" --seeds "$(pick 10 2)" --steps "$(pick 4000 600)" \
    --json "$OUT/vmap_seeds_gpu.json"
  ;;
c)
  timeout "$(pick 540 120)" $PY benchmarks/learning.py --tasks HalfCheetah-v5 \
    --preset "$(pick simbav2 simbav2-small)" --seeds 0 --steps "$(pick 100000 2000)" \
    --eval-every "$(pick 10000 1000)" --out /tmp/gpu_learning
  cp /tmp/gpu_learning/HalfCheetah-v5/*/metrics.jsonl "$OUT/halfcheetah_metrics.jsonl"
  ;;
d)
  for dtype in float32 bfloat16; do
    timeout "$(pick 150 120)" $PY benchmarks/throughput.py --env HalfCheetah-v5 \
      --presets "$(pick simbav2 simbav2-small)" --algos sac td3 --no-loop \
      --seconds "$(pick 10 1)" --set "agent.matmul_dtype=$dtype" \
      --json "$OUT/throughput_gpu_$dtype.json"
  done
  ;;
e)
  timeout "${LIMIT:-$(pick 420 300)}" $PY benchmarks/evolve_vmap.py --env "${EVO_ENV:-HalfCheetah-v5}" \
    --preset simbav2-small --members ${MEMBERS:-$(pick "1 4 8 16" "1 2")} --steps "$(pick 200 5)" \
    --json "$OUT/evolve_vmap_gpu.json"
  ;;
f)
  export XLA_PYTHON_CLIENT_MEM_FRACTION=0.3 # two processes share the GPU
  T=${LIMIT:-$(pick 430 240)}
  FULL=${FULL_TASK:-dmc:walker-walk}  # FULL_TASK=dmc:finger-spin: the table's other row
  rm -rf /tmp/gpu_runs
  timeout -s INT "$T" $PY -m simbarl.cli train --env "$FULL" \
    --preset "$(pick simbav2 simbav2-small)" --steps 1000000 --pause-at "$(pick 100000 1000)" \
    --eval-every "$(pick 20000 500)" --eval-episodes "$(pick 10 1)" --vmap-seeds 2 --seed 0 \
    --no-checkpoint --no-progress --run-dir "/tmp/gpu_runs/${FULL//:/-}" >"$OUT/full_size.log" 2>&1 &
  if [ "${HALFCHEETAH:-1}" = 1 ]; then  # HALFCHEETAH=0: the full-size run alone
    timeout -s INT "$T" $PY -m simbarl.cli train --env HalfCheetah-v4 --preset simbav2-small \
      --steps "$(pick 100000 1000)" --eval-every "$(pick 10000 500)" --eval-episodes "$(pick 10 1)" \
      --vmap-seeds 3 --seed 0 --no-checkpoint --no-progress \
      --run-dir /tmp/gpu_runs/HalfCheetah-v4 >"$OUT/halfcheetah_v4.log" 2>&1 &
  fi
  wait
  tar czf "$OUT/runs_f.tar.gz" --exclude 'checkpoint*' -C /tmp/gpu_runs .
  ;;
g)
  TASK=${FLASH_TASK:-$(pick mjx:T1JoystickFlatTerrain jax:PointMass)}
  TINY=(--num-envs 16 --batch-size 64 --buffer-size 20000 --warmup-steps 256 --steps 3000
    --eval-episodes 4 --log-every 500 --agent.actor.width 16 --agent.critic.width 32)
  rm -rf /tmp/gpu_flash
  # -s INT: the run stops as at Ctrl-C, its evaluations kept
  timeout -s INT "${LIMIT:-$(pick 540 300)}" $PY -m simbarl.cli train --preset flashsac-parallel \
    --env "$TASK" --eval-every "$(pick 1000448 1000)" $([ "$S" = 1 ] && echo "${TINY[@]}") \
    --no-checkpoint --progress plain --run-dir /tmp/gpu_flash/run >"$OUT/flashsac_playground.log" 2>&1
  cp /tmp/gpu_flash/run/metrics.jsonl "$OUT/flashsac_playground_metrics.jsonl"
  cp /tmp/gpu_flash/run/config.json "$OUT/flashsac_playground_config.json"
  ;;
h | i)
  # issue 48: each parallel recipe on one task until RETURN or its share of the time
  # limit (h: mjx:CheetahRun, i: brax:humanoid); time to the return, env steps/s and
  # updates/s while training are in each run's metrics.jsonl. SMOKE=1: jax:PointMass.
  if [ "$PART" = h ]; then TASK=${TASK:-mjx:CheetahRun} GOAL=${RETURN:-600}; fi
  if [ "$PART" = i ]; then TASK=${TASK:-brax:humanoid} GOAL=${RETURN:-5000}; fi
  [ "$S" = 1 ] && TASK=jax:PointMass GOAL=1e9
  TINY=(--num-envs 16 --batch-size 64 --buffer-size 20000 --warmup-steps 256 --steps 2000
    --eval-episodes 4 --log-every 500 --agent.actor.width 16 --agent.critic.width 32)
  EACH=$((${LIMIT:-$(pick 540 300)} / 3))
  rm -rf /tmp/gpu_recipes
  for recipe in parallel-sac parallel-td3 flashsac-parallel; do
    timeout -s INT "$EACH" $PY -m simbarl.cli train --preset "$recipe" --env "$TASK" \
      --stop-at-return "$GOAL" --eval-every "$(pick 500000 1000)" --log-every "$(pick 100000 500)" \
      $([ "$S" = 1 ] && echo "${TINY[@]}") --no-checkpoint --progress plain \
      --run-dir "/tmp/gpu_recipes/$recipe" >"$OUT/recipes_${PART}_$recipe.log" 2>&1
    cp "/tmp/gpu_recipes/$recipe/metrics.jsonl" "$OUT/recipes_${PART}_$recipe.jsonl"
  done
  ;;
j)
  # loop agent steps/s (A: --overlap False, B: True) beside the update alone (updates_per_s)
  timeout "$(pick 420 300)" $PY benchmarks/throughput.py --env HalfCheetah-v5 \
    --presets "$(pick simbav2 simbav2-small)" --algos sac --set overlap=false --ab overlap=true \
    --ab-rounds "$(pick 3 1)" --ab-capacity "$(pick 100000 10000)" --seconds "$(pick 5 1)" \
    --loop-steps "$(pick 300 20)" --json "$OUT/overlap_gpu.json"
  ;;
k)
  timeout "$(pick 300 300)" $PY benchmarks/population_device.py --env "$(pick mjx:CartpoleBalance jax:PointMass)" \
    --populations $(pick "1 4 8 16" "1 2") --num-envs "$(pick 128 8)" \
    --batch-size "$(pick 256 32)" --steps "$(pick 50 5)" --json "$OUT/population_device_gpu.json"
  ;;
l)
  # -s INT: learning.py keeps the run's checkpoint and the next call resumes it; a
  # finished run enters $OUT/flashsac_full/curves.json (smoke: flashsac-small, 2k steps)
  JAX_DEFAULT_MATMUL_PRECISION=highest timeout -s INT "${LIMIT:-$(pick 540 300)}" \
    $PY benchmarks/learning.py --preset "$(pick flashsac flashsac-small)" --tasks HalfCheetah-v4 \
    --seeds ${SEEDS:-0} --steps "$(pick 1000000 4000)" --until "$(pick 100000 1000)" \
    --eval-every "$(pick 10000 500)" --set "eval_episodes=$(pick 10 1)" \
    $([ "$S" = 1 ] && echo "warmup_steps=500") \
    --out "$OUT/flashsac_full" >"$OUT/flashsac_full.log" 2>&1
  tail -n 5 "$OUT/flashsac_full.log"
  ;;
*)
  echo "unknown part $PART (a, b, c, d, e, f, g, h, i, j, k, l or t)" >&2
  exit 2
  ;;
esac
ls -la "$OUT"
