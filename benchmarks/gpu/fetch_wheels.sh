#!/usr/bin/env bash
# Wheels that a CUDA image with JAX, Flax and Optax (but no internet) lacks to run
# simbarl's GPU benchmarks: Gymnasium MuJoCo, MuJoCo Playground (MJX's JAX path:
# Warp, 150 MB, is left out and mjx_impl=auto then uses the JAX path), the CLI.
# dm_control (56 MB) is left out too, so dmc: tasks are not available there.
#
#   bash benchmarks/gpu/fetch_wheels.sh [DIR] [PYTHON_VERSION]   # default .whl 3.12
#
# On the target: python3 -m pip install --no-index --no-deps --target /tmp/site DIR/*.whl
# and PYTHONPATH=/tmp/site:$PWD (gpu_session.sh does this when DIR is .whl).
set -euo pipefail
cd "$(dirname "$0")/../.."
DIR=${1:-.whl}
PY=${2:-3.12}
PLATFORMS=()
for p in manylinux_2_28 manylinux_2_27 manylinux_2_24 manylinux_2_17 manylinux2014 manylinux1; do
  PLATFORMS+=(--platform "${p}_x86_64")
done
python3 -m pip download -q --no-deps --only-binary=:all: --python-version "$PY" \
  --implementation cp "${PLATFORMS[@]}" --platform any -d "$DIR" \
  gymnasium==1.2.2 farama-notifications==0.0.6 mujoco==3.17.0 mujoco-mjx==3.17.0 \
  playground==0.2.0 brax==0.14.2 trimesh==5.2.0 jaxopt==0.8.5 ml_collections==1.1.0 \
  glfw==2.11.0 tyro==1.0.17 docstring-parser==0.18.0 typeguard==4.6.1 tensorboardX==2.6.5
du -sh "$DIR"
