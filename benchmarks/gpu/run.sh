#!/usr/bin/env bash
# The GPU measurements (issue 9), one prepared script for a lent GPU machine; a few minutes on an H200.
#   here:   bash benchmarks/gpu/prepare_wheels.sh
#   there:  the device tool's run with command "bash benchmarks/gpu/run.sh", carry [".whl"], timeout_s 540
# Issue 22 adds kernel_variants_gpu.json and step_cost_gpu_<depthwise>_<pointwise>.json (ERM at each kernel choice).
# Writes step_cost_gpu.json (ERM / SAM / HDF clips/s, x3d_s 16 × 112², batch 32, fp32 and bf16, with and
# without channels_last_3d), data_throughput_gpu.json and harness_overhead_gpu.json (issue 15: hdfbench's
# ERM step and epoch against a bare PyTorch loop) to $OUT (or benchmarks/gpu/out).
set -euo pipefail
cd "$(dirname "$0")/../.."
out=${OUT:-benchmarks/gpu/out}
mkdir -p "$out"
python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/gpu/*.whl
export PYTHONPATH="/tmp/site:$PWD" PYTHONUNBUFFERED=1
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv | tee "$out/nvidia-smi.csv" || true
python3 -c "import torch; print('torch', torch.__version__, 'cuda', torch.version.cuda, torch.cuda.get_device_name(0))"
# issue 22: every depthwise / pointwise kernel per X3D-S layer shape (float64 exactness on the card, fp32 and bf16
# forward / backward times), then ERM's step at each kernel choice (the ablation that sets the CUDA `auto`)
timeout 150 python3 benchmarks/kernel_variants.py --device cuda --rounds 5 --out "$out/kernel_variants_gpu.json" \
    > "$out/kernel_variants_gpu.txt" || true
for dw in native frames2d; do
    for pw in native matmul; do
        timeout 60 python3 benchmarks/step_cost.py --backbone x3d_s --frames 16 --size 112 --batch 32 --device cuda \
            --threads 8 --precisions fp32 bf16 --channels-last off --strategies erm --depthwise $dw --pointwise $pw \
            --warmup 3 --steps 5 --rounds 3 --out "$out/step_cost_gpu_${dw}_${pw}.json" || true
    done
done
timeout 240 python3 benchmarks/step_cost.py --backbone x3d_s --frames 16 --size 112 --batch 32 --device cuda \
    --threads 8 --precisions fp32 bf16 --channels-last both --strategies erm sam hdf \
    --warmup 3 --steps 5 --rounds 4 --out "$out/step_cost_gpu.json" | tee "$out/step_cost_gpu.txt"
timeout 120 python3 benchmarks/data_throughput.py --n-clips 384 --frames 16 --size 112 --batch 32 \
    --backbone x3d_s --device cuda --precision bf16 --num-workers 8 --threads 8 --decode-workers 8 \
    --epochs 2 --steps 10 --json "$out/data_throughput_gpu.json" | tee "$out/data_throughput_gpu.txt"
timeout 150 python3 benchmarks/harness_overhead.py --backbone x3d_s --frames 16 --size 112 --batch 32 --device cuda \
    --precision bf16 --threads 8 --rounds 6 --clips 600 --epochs 4 --out "$out/harness_overhead_gpu.json" \
    | tee "$out/harness_overhead_gpu.txt"
timeout 330 python3 benchmarks/gpu/batch_compile.py | tee "$out/batch_compile_gpu.txt"
