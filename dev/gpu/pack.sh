#!/usr/bin/env bash
# pack.sh: build here (nvcc compiles and links here; nothing CUDA runs) and pack
# what dev/gpu/check.sh runs into .gpu_bundle/bundle.tar.xz: the GPU programs and
# the non-CUDA shared libraries they load (OpenBLAS, ICU, PCRE2, OpenMPI, ...),
# which the GPU machine's image lacks. The CUDA libraries (cudart, cuBLASLt,
# NCCL) are not packed: the machine's own match its driver, and libcublasLt
# alone is over 500 MB while the device tool carries at most 64 MiB.
# Then: run `bash dev/gpu/check.sh` with the device tool, carrying .gpu_bundle.
#
# The bundle is built in its own folder (build-gpu/) for a portable x86-64 level,
# not -march=native: the GPU machine's CPU is not this one and may lack what this
# one has (AVX-512). x86-64-v3 (AVX2, FMA) is on every CPU an H100/H200 server
# carries. The software device is not built there (it runs here, in make test).
set -euo pipefail
cd "$(dirname "$0")/../.."
# The workbench's cuDNN SDPA rows need NVIDIA's header-only cuDNN frontend: fetched into .deps/
# (its PyPI wheel); without it the bundle has the plain workbench only.
cudnn_fe=$(bash scripts/fetch_cudnn_frontend.sh) || { echo "pack: no cuDNN frontend, the workbench's cuDNN rows are left out"; cudnn_fe=""; }
cmake -S . -B build-gpu -DALIGN_NATIVE=OFF -DCMAKE_CXX_FLAGS=-march=x86-64-v3 -DALIGN_CUDA=ON \
  -DALIGN_SOFTWARE_DEVICE=OFF ${cudnn_fe:+-DCUDNN_FRONTEND_INCLUDE=$PWD/$cudnn_fe} >/dev/null
cmake --build build-gpu -j "$(nproc)" >/dev/null
bins="align_gpu_tests nccl_check gpu_info bench_cuda_kernels bench_loss_layer bench_train_step bench_layouts"
[ -x build-gpu/bench_cuda_kernels_cudnn ] && bins="$bins bench_cuda_kernels_cudnn"
stage=$(mktemp -d)
trap 'rm -rf "$stage"' EXIT
mkdir -p "$stage/bundle/bin" "$stage/bundle/lib" .gpu_bundle
for b in $bins; do cp "build-gpu/$b" "$stage/bundle/bin/"; done
# Everything ldd resolves except the C library, the compiler's runtime (the image's own is
# newer) and CUDA's libraries (the image's own match its driver; cuDNN loads engine libraries
# of hundreds of MB: check.sh runs the cuDNN workbench only where the image has cuDNN).
for b in $bins; do ldd "build-gpu/$b"; done | awk '/=> \// {print $3}' | sort -u |
  grep -v -E '/(libc|libm|libpthread|libdl|librt|ld-linux[^/]*|libstdc\+\+|libgcc_s)\.so' |
  grep -v -E '/lib(cuda|cudart|cublas|cublasLt|nccl|cudnn[a-z_]*)\.so' |
  while read -r lib; do cp -L "$lib" "$stage/bundle/lib/"; done
git rev-parse HEAD >"$stage/bundle/commit"
tar -cJf .gpu_bundle/bundle.tar.xz.tmp -C "$stage" bundle
mv .gpu_bundle/bundle.tar.xz.tmp .gpu_bundle/bundle.tar.xz
echo "packed $(du -h .gpu_bundle/bundle.tar.xz | cut -f1) for commit $(git rev-parse --short HEAD): $bins"
