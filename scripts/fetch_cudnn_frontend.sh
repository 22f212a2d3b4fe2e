#!/usr/bin/env bash
# fetch_cudnn_frontend.sh [DIR]: puts NVIDIA's header-only cuDNN frontend (cudnn_frontend.h, the
# graph API the kernel workbench's cuDNN SDPA rows use; dev/bench/cudnn_sdpa.cuh) under
# DIR/include (default .deps/cudnn_frontend), from its PyPI wheel. Used by dev/gpu/pack.sh only:
# the product and `make test` never need it. Idempotent; prints the include folder.
set -euo pipefail
cd "$(dirname "$0")/.."
version=1.32.0  # the version dev/bench/cudnn_sdpa.cuh is written against
dir=${1:-.deps/cudnn_frontend}
if [ ! -f "$dir/include/cudnn_frontend.h" ]; then
  tmp=$(mktemp -d)
  trap 'rm -rf "$tmp"' EXIT
  python3 -m pip download --quiet --no-deps --only-binary=:all: -d "$tmp" "nvidia-cudnn-frontend==$version" >&2
  wheel=$(ls "$tmp"/nvidia_cudnn_frontend-*.whl)
  mkdir -p "$tmp/x" "$dir"
  python3 -m zipfile -e "$wheel" "$tmp/x"
  [ -f "$tmp/x/include/cudnn_frontend.h" ] || { echo "fetch_cudnn_frontend: no include/cudnn_frontend.h in $wheel" >&2; exit 1; }
  rm -rf "$dir/include.tmp" && cp -r "$tmp/x/include" "$dir/include.tmp" && mv "$dir/include.tmp" "$dir/include"
fi
echo "$dir/include"
