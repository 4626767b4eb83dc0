"""Where a training step's time goes: torch.profiler's breakdown of the ERM, SAM and HDF steps by kernel type.

Each strategy's step runs ``--warmup`` times, then ``--steps`` times under ``torch.profiler``. Time is
attributed to the outermost operator of a known type, so nothing is counted twice: on the CPU the operators'
own wall time (``cpu_time_total`` of the outermost match), on CUDA the device time of each kernel (grouped by
kernel name). The types:

- ``conv_depthwise`` X3D's depthwise 3 × 3 × 3 convolutions (groups = channels), forward and backward apart;
- ``conv_temporal`` the stem's depthwise 5 × 1 × 1 convolution; ``conv_other`` every other convolution;
- ``batch_norm``, ``activation`` (Swish/SiLU, ReLU, sigmoid), ``pooling`` (SE's and the head's averages),
  ``optimizer`` (AdamW's update), ``linear``, ``elementwise`` (adds, multiplies, copies), ``other``.

    python benchmarks/profile_step.py                         # x3d_tiny 16 × 8 × 32², 2 CPU threads
    python benchmarks/profile_step.py --backbone x3d_s --frames 16 --size 112 --batch 32 --device cuda \
        --out benchmarks/gpu/profile_gpu.json
"""

from __future__ import annotations

import argparse
import json
import re
import time

import torch
from step_cost import make_strategy
from step_timing import add_step_arguments, sync
from torch.profiler import ProfilerActivity, profile

from hdfbench.data.batch import Batch
from hdfbench.training.device import autocast_dtype, channels_last_wanted

#: (type, pattern) of CPU operators, matched against the operator name in order; the first match wins.
CPU_TYPES = [
    ("batch_norm", r"batch_norm"),
    ("activation", r"silu|swish|sigmoid|relu|threshold|SwishFunction"),
    ("pooling", r"adaptive_avg_pool|avg_pool|mean"),
    ("optimizer", r"Optimizer\.step|_foreach_|adamw?_|_fused_adam"),
    ("linear", r"aten::(addmm|mm|linear)$"),
    ("elementwise", r"aten::(add|mul|div|sub|copy_|clone|to|_to_copy|fill_|zero_|sum|neg|where|cat|stack)_?$"),
]
#: (type, pattern) of CUDA kernel names.
CUDA_TYPES = [
    ("conv_depthwise", r"depthwise3d|conv_depthwise3d|dwconv|depthwise_conv"),
    ("conv_other", r"conv|cudnn|implicit_gemm|xmma|sm\d+_.*gemm|cutlass"),
    ("batch_norm", r"batch_norm|bn_"),
    ("activation", r"silu|sigmoid|relu|threshold|swish"),
    ("pooling", r"avg_pool|reduce_kernel|mean"),
    ("optimizer", r"adam|multi_tensor_apply"),
    ("linear", r"gemm|gemv"),
    ("elementwise", r"elementwise|vectorized|copy|fill"),
]


def conv_type(shapes: list) -> str:
    """Return the type of a convolution from its recorded input shapes (the weight is the 2nd input of the
    forward, the 3rd of the backward): ``conv_depthwise`` for C × 1 × 3 × 3 × 3, ``conv_temporal`` for
    C × 1 × k × 1 × 1, else ``conv_other``."""
    weights = [s for s in shapes if isinstance(s, list) and len(s) == 5 and s[1] == 1 and s[0] > 1]
    if not weights:
        return "conv_other"
    kernel = weights[0][2:]
    return "conv_depthwise" if kernel == [3, 3, 3] else "conv_temporal" if kernel[1:] == [1, 1] else "conv_other"


def cpu_breakdown(prof) -> dict[str, float]:
    """Return seconds per type, from the outermost matching operator of each call tree (CPU time)."""
    totals: dict[str, float] = {}
    for event in prof.events():
        kind = _cpu_type(event)
        if kind is None or _has_typed_ancestor(event):
            continue
        totals[kind] = totals.get(kind, 0.0) + event.cpu_time_total / 1e6
    return totals


def _cpu_type(event) -> str | None:
    name = event.name
    if name in ("aten::convolution", "aten::convolution_backward"):
        kind = conv_type(event.input_shapes)
        return f"{kind}_{'backward' if name.endswith('backward') else 'forward'}"
    for kind, pattern in CPU_TYPES:
        if re.search(pattern, name):
            return kind
    return None


def _has_typed_ancestor(event) -> bool:
    parent = event.cpu_parent
    while parent is not None:
        if _cpu_type(parent) is not None:
            return True
        parent = parent.cpu_parent
    return False


def cuda_breakdown(prof) -> tuple[dict[str, float], list[tuple[str, float]]]:
    """Return seconds per type of CUDA kernel time, and the 15 costliest kernels (name, seconds)."""
    totals: dict[str, float] = {}
    kernels: dict[str, float] = {}
    for event in prof.events():
        if event.device_type != torch.autograd.DeviceType.CUDA:
            continue
        seconds = event.device_time_total / 1e6
        kernels[event.name] = kernels.get(event.name, 0.0) + seconds
        kind = next((k for k, p in CUDA_TYPES if re.search(p, event.name, re.IGNORECASE)), "other")
        totals[kind] = totals.get(kind, 0.0) + seconds
    top = sorted(kernels.items(), key=lambda kv: -kv[1])[:15]
    return totals, top


def profile_strategy(name: str, args, batch: Batch, device: torch.device) -> dict:
    """Return the breakdown of ``name``'s training step (seconds per step, by type), and its wall time with and
    without the profiler (whose bookkeeping is part of ``untyped``)."""
    amp = autocast_dtype(args.precision, device)
    strategy = make_strategy(name, args, device, args.precision, channels_last_wanted("auto", device, amp))
    for _ in range(args.warmup):
        strategy.training_step(batch)
    sync(device)
    start = time.perf_counter()
    for _ in range(args.steps):
        strategy.training_step(batch)
    sync(device)
    unprofiled = (time.perf_counter() - start) / args.steps
    activities = [ProfilerActivity.CPU] + ([ProfilerActivity.CUDA] if device.type == "cuda" else [])
    start = time.perf_counter()
    with profile(activities=activities, record_shapes=True) as prof:
        for _ in range(args.steps):
            strategy.training_step(batch)
        sync(device)
    wall = (time.perf_counter() - start) / args.steps
    if device.type == "cuda":
        totals, top = cuda_breakdown(prof)
    else:
        totals, top = cpu_breakdown(prof), []
    per_step = {k: v / args.steps for k, v in sorted(totals.items(), key=lambda kv: -kv[1])}
    per_step["untyped"] = max(0.0, wall - sum(per_step.values())) if device.type == "cpu" else 0.0
    return {
        "wall_s": wall,
        "wall_unprofiled_s": unprofiled,
        "memory_format": str(strategy.memory_format).removeprefix("torch."),
        "by_type_s": per_step,
        "top_kernels_s": [(k, v / args.steps) for k, v in top],
    }


def main() -> None:
    parser = add_step_arguments(argparse.ArgumentParser(description=__doc__.splitlines()[0]))
    parser.add_argument("--steps", type=int, default=5, help="profiled steps of each strategy")
    parser.add_argument("--precision", default="fp32", choices=["fp32", "bf16"])
    parser.add_argument("--strategies", nargs="+", default=["erm", "sam", "hdf"])
    parser.add_argument("--out", help="also write the breakdown as JSON here")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    g = torch.Generator().manual_seed(0)
    batch = Batch(
        torch.randn(args.batch, 3, args.frames, args.size, args.size, generator=g),
        torch.randint(0, 7, (args.batch,), generator=g),
        {"source": torch.randint(0, 4, (args.batch,), generator=g)},
        torch.arange(args.batch),
    ).to(device)
    result = {
        "setup": {k: v for k, v in vars(args).items() if k != "out"},
        "device_name": torch.cuda.get_device_name(device) if device.type == "cuda" else "cpu",
        "torch": torch.__version__,
        "strategies": {},
    }
    for name in args.strategies:
        found = profile_strategy(name, args, batch, device)
        result["strategies"][name] = found
        wall = found["wall_s"]
        print(
            f"{name}: {wall * 1e3:.1f} ms a step under the profiler, {found['wall_unprofiled_s'] * 1e3:.1f} ms without "
            f"({found['memory_format']}; untyped includes the profiler's own cost)"
        )
        for kind, seconds in found["by_type_s"].items():
            print(f"  {kind:<26} {seconds * 1e3:8.2f} ms  {100 * seconds / wall:5.1f} %")
        for kernel, seconds in found["top_kernels_s"]:
            print(f"    {seconds * 1e3:8.2f} ms  {kernel[:110]}")
        if args.out:  # saved after each strategy: a run cut short keeps what it measured
            with open(args.out, "w") as f:
                json.dump(result, f, indent=2)


if __name__ == "__main__":
    main()
