#!/usr/bin/env bash
# install_deps.sh: installs what a fresh machine lacks to build and test align.cu.
# Idempotent: packages already present are skipped without touching apt, so
# `make test` can call it every time at no cost. Needs root (or sudo) only when
# something is actually missing.
set -euo pipefail

# Debian packages the CPU build and tests need:
#   libopenblas-openmp-dev  sgemm for the float32 CPU path (OpenMP build, so it
#                           shares threads with our own OpenMP loops)
#   nlohmann-json3-dev      JSON for config.json and safetensors headers
#   libcli11-dev            command-line parsing for every tool and trainer
#   libpcre2-dev            the regex engine (Unicode properties, JIT) for tokenizer pre-splitting
#   libicu-dev              Unicode normalisation (NFC, NFKC, ...) for tokenizer normalisers
#   libopenmpi-dev, openmpi-bin  MPI for data-parallel training on CPU ranks (and the NCCL id exchange)
#   libboost-context-dev    fibers for the software device (src/emu): the threads of an emulated CUDA block
#   libgtest-dev, cmake     test framework and build (present on a fresh machine,
#                           listed so that any machine gets them)
#   clang, libclang-rt-14-dev, libomp-14-dev
#                           `make fuzz` (tests/fuzz/): clang++ with libFuzzer's runtime
#                           (libclang_rt.fuzzer) and the OpenMP runtime for clang
packages=(cmake g++ make pkg-config libopenblas-openmp-dev nlohmann-json3-dev libcli11-dev libpcre2-dev libicu-dev libopenmpi-dev openmpi-bin libboost-context-dev libgtest-dev
          clang libclang-rt-14-dev libomp-14-dev)

missing=()
for p in "${packages[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done

if [ ${#missing[@]} -eq 0 ]; then
  exit 0
fi

echo "install_deps: installing ${missing[*]}"
SUDO=""
if [ "$(id -u)" -ne 0 ]; then
  if command -v sudo >/dev/null 2>&1; then SUDO="sudo"; else
    echo "install_deps: need root to install: ${missing[*]}" >&2; exit 1
  fi
fi
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
