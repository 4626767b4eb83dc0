#!/usr/bin/env bash
# The GPU measurements (issue 9), one prepared script for a lent GPU machine; a few minutes on an H200.
#   here:   bash benchmarks/gpu/prepare_wheels.sh
#   there:  the device tool's run with command "bash benchmarks/gpu/run.sh", carry [".whl"], timeout_s 560
# Writes kernel_variants_gpu.json, step_cost_gpu_<depthwise>_<pointwise>.json (ERM at each kernel choice),
# step_cost_gpu.json (ERM / SAM / HDF clips/s, x3d_s 16 × 112², batch 32, fp32 and bf16) and
# data_throughput_gpu_<loader|device>.json to $OUT (or benchmarks/gpu/out).
set -euo pipefail
cd "$(dirname "$0")/../.."
out=${OUT:-benchmarks/gpu/out}
mkdir -p "$out"
python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/gpu/*.whl
export PYTHONPATH="/tmp/site:$PWD" PYTHONUNBUFFERED=1
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv | tee "$out/nvidia-smi.csv" || true
python3 -c "import torch; print('torch', torch.__version__, 'cuda', torch.version.cuda, torch.cuda.get_device_name(0))"
# issue 22, sized to about 8 minutes of a 15-minute lease (each section writes its file when it ends):
# 1. every depthwise / pointwise kernel per X3D-S layer shape (float64 exactness on the card, fp32 and bf16
#    forward / backward times);
timeout 90 python3 benchmarks/kernel_variants.py --device cuda --rounds 3 --out "$out/kernel_variants_gpu.json" \
    > "$out/kernel_variants_gpu.txt" || true
# 2. ERM's step at each depthwise kernel (pointwise native; triton's kernels compile in its first steps) and at
#    matmul pointwise: the ablation that sets the CUDA `auto` in hdfbench/models/kernels.py;
for combo in native:native triton:native flipgrad:native frames2d:native native:matmul; do
    dw=${combo%%:*} pw=${combo##*:}
    timeout 40 python3 benchmarks/step_cost.py --backbone x3d_s --frames 16 --size 112 --batch 32 --device cuda \
        --threads 8 --precisions fp32 bf16 --channels-last off --strategies erm --depthwise $dw --pointwise $pw \
        --warmup 3 --steps 5 --rounds 3 --out "$out/step_cost_gpu_${dw}_${pw}.json" || true
done
# 3. ERM / SAM / HDF at the defaults (channels_last measured 1.5-1.8x slower on the card: not repeated);
timeout 120 python3 benchmarks/step_cost.py --backbone x3d_s --frames 16 --size 112 --batch 32 --device cuda \
    --threads 8 --precisions fp32 bf16 --channels-last off --strategies erm sam hdf \
    --warmup 3 --steps 5 --rounds 3 --out "$out/step_cost_gpu.json" | tee "$out/step_cost_gpu.txt" || true
# 4. the training loader against consumption, augmentation in the workers and on the device.
for on in loader device; do
    timeout 45 python3 benchmarks/data_throughput.py --n-clips 384 --frames 16 --size 112 --batch 32 \
        --backbone x3d_s --device cuda --precision bf16 --num-workers 8 --threads 8 --decode-workers 8 \
        --epochs 2 --steps 10 --augment-on $on --json "$out/data_throughput_gpu_$on.json" \
        | tee "$out/data_throughput_gpu_$on.txt" || true
done
# (harness_overhead_gpu_*.json and batch_compile_gpu.txt were measured in earlier leases; rerun them by hand.)
