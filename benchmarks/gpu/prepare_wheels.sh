#!/usr/bin/env bash
# Fill .whl/gpu with what a lent GPU machine lacks for the GPU measurements (Python 3.12, no network
# there; it has torch, numpy, pandas, pyarrow, scikit-learn, Pillow, PyYAML, tqdm). About 38 MB.
set -euo pipefail
cd "$(dirname "$0")/../.."
dest=.whl/gpu
mkdir -p "$dest"
platforms=()
for p in manylinux_2_28_x86_64 manylinux_2_27_x86_64 manylinux_2_17_x86_64 manylinux2014_x86_64 manylinux1_x86_64; do
    platforms+=(--platform "$p")
done
python3 -m pip download -q --no-deps --only-binary=:all: --python-version 3.12 --implementation cp "${platforms[@]}" \
    -d "$dest" pydantic==2.14.3 pydantic-core==2.50.4 annotated-types==0.8.0 typing-inspection==0.4.5 \
    yacs==0.1.8 termcolor==3.3.0 av==18.1.0 parameterized==0.9.0
# pure-Python packages published only as source: build their wheels here
python3 -m pip wheel -q --no-deps -w "$dest" pytorchvideo==0.1.5 fvcore==0.1.5.post20221221 iopath==0.1.10
du -sh "$dest"
