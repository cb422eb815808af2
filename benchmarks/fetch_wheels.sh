#!/usr/bin/env bash
# Download the wheels graft needs beyond what the GPU machine's image holds (Python 3.12,
# manylinux x86_64, no internet there), so that benchmarks/gpu_suite.sh can install them.
#
#   benchmarks/fetch_wheels.sh [DIR]      # default DIR: .whl (add "/.whl/" to .git/info/exclude)
#
# --no-deps with every needed package named: the image already has torch, numpy, onnx, rich...,
# and two versions of one package would stop the install. Names, not pins: the newest wheel
# for Python 3.12 that pyproject.toml's ranges allow.
set -euo pipefail
dir="${1:-.whl}"
mkdir -p "$dir"
py="${PYTHON:-python3}"
# graft's own dependencies missing from the image, then their dependencies missing from it
packages=(
  "pydantic>=2.6" pydantic-core annotated-types typing-inspection "typing-extensions>=4.16"
  "pycocotools>=2.0.8" "faster-coco-eval>=1.8,<2"
  "torch-pruning>=1.5"
  "nvidia-modelopt>=0.40" "pulp<4"  # (its omegaconf needs antlr4 4.9: an sdist only; unused)
  "onnxconverter-common>=1.14"
  "cryptography>=42" cffi pycparser
)
platforms=()
for p in manylinux_2_28_x86_64 manylinux_2_27_x86_64 manylinux_2_17_x86_64 \
         manylinux2014_x86_64 manylinux1_x86_64; do
  platforms+=(--platform "$p")
done
for pkg in "${packages[@]}"; do
  "$py" -m pip download -q --no-deps --only-binary=:all: --python-version 3.12 \
    --implementation cp "${platforms[@]}" -d "$dir" "$pkg"
done
# pydantic pins pydantic-core exactly: fetch the pinned one if the newest differs
pin=$(unzip -p "$dir"/pydantic-[0-9]*.whl '*/METADATA' | sed -n 's/^Requires-Dist: pydantic-core==\([^ ;]*\).*/\1/p')
if [ -n "$pin" ]; then
  find "$dir" -name 'pydantic_core-*.whl' ! -name "pydantic_core-$pin-*" -delete
  "$py" -m pip download -q --no-deps --only-binary=:all: --python-version 3.12 \
    --implementation cp "${platforms[@]}" -d "$dir" "pydantic-core==$pin"
fi
ls -l "$dir"
du -sh "$dir"
