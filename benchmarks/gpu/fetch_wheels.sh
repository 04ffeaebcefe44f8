#!/usr/bin/env bash
# Wheels that a CUDA image with JAX, Flax and Optax (but no internet) lacks to run
# simbarl's GPU benchmarks: Gymnasium MuJoCo, MuJoCo Playground (MJX's JAX path:
# Warp, 150 MB, is left out and mjx_impl=auto then uses the JAX path), the CLI.
# dm_control's wheel (56 MB) does not fit beside them: its files less the locomotion
# and dog assets (3 MB, all the suite needs) go to .gpu_site, which session.sh puts
# on PYTHONPATH; carry .gpu_site with .whl for dmc: tasks.
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
  gymnasium==1.4.0 farama-notifications==0.0.6 mujoco==3.17.0 mujoco-mjx==3.17.0 \
  playground==0.2.0 brax==0.14.2 trimesh==5.2.0 jaxopt==0.8.5 ml_collections==1.1.0 \
  glfw==2.11.0 tyro==1.0.17 docstring-parser==0.18.0 typeguard==4.6.1 tensorboardX==2.6.5 \
  dm-env==1.6 dm-tree==0.1.10 PyOpenGL==3.1.10 websockets==15.0.1
TMP=$(mktemp -d)
python3 -m pip download -q --no-deps --only-binary=:all: -d "$TMP" dm_control==1.0.50
rm -rf .gpu_site && mkdir -p .gpu_site
python3 -m zipfile -e "$TMP"/dm_control-*.whl .gpu_site
rm -rf "$TMP" .gpu_site/dm_control-*.dist-info .gpu_site/dm_control/{locomotion,blender} \
  .gpu_site/dm_control/suite/dog_assets .gpu_site/dm_control/mujoco/testing/assets
find .gpu_site -name '*_test.py' -delete
du -sh "$DIR" .gpu_site
