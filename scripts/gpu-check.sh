#!/usr/bin/env bash
# One command for a fresh GPU machine (under 10 minutes): installs the GPU backends from the npm
# registry into a tool folder, then trains Beauty for a fixed number of steps on every tfjs
# backend that loads (wasm, webgpu, tfjs-node-gpu, tfjs-node) and prints one JSON line per backend
# (scripts/gpu-check.ts). Backends that cannot load say why (available: false).
#   bash scripts/gpu-check.sh [--no-install] [--steps 20] [--data FILE] [--backends wasm,webgpu,gpu,node]
# Tool folder: $RECSHIP_GPU_TOOL_DIR (default .tools/gpu); WebGPU needs a Vulkan driver (on Debian
# without a GPU: mesa-vulkan-drivers ≥ 25, bookworm-backports, gives the software lavapipe device).
set -euo pipefail
cd "$(dirname "$0")/.."
tools="${RECSHIP_GPU_TOOL_DIR:-$PWD/.tools/gpu}"
install=1
pass=()
for arg in "$@"; do
  if [ "$arg" = "--no-install" ]; then install=0; else pass+=("$arg"); fi
done
[ -d node_modules ] || npm ci --no-audit --no-fund >&2
if [ "$install" = 1 ]; then
  mkdir -p "$tools/webgpu" "$tools/tfjs-node-gpu"
  # Dawn's Node binding and tfjs's WebGPU backend (the version of the bundled tfjs)
  npm install --no-save --no-audit --no-fund --ignore-scripts --prefix "$tools/webgpu" webgpu@0.6.2 @tensorflow/tfjs-backend-webgpu@4.22.0 >&2 ||
    echo "gpu-check: installing webgpu failed" >&2
  # tfjs-node-gpu's install script downloads libtensorflow (CUDA 11.2 + cuDNN 8.1 at run time)
  npm install --no-save --no-audit --no-fund --allow-scripts=@tensorflow/tfjs-node-gpu --prefix "$tools/tfjs-node-gpu" @tensorflow/tfjs-node-gpu@4.22.0 >&2 ||
    echo "gpu-check: installing @tensorflow/tfjs-node-gpu failed (its install script downloads libtensorflow)" >&2
fi
export RECSHIP_WEBGPU_DIR="$tools/webgpu" RECSHIP_TFJS_NODE_DIR="$tools/tfjs-node-gpu"
exec npx tsx scripts/gpu-check.ts "${pass[@]}"
