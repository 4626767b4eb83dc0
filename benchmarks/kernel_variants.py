"""Each depthwise and pointwise kernel of models/kernels.py on every convolution shape an X3D meets.

The shapes are collected from one forward pass of the backbone at the given clip size (each distinct input
shape, channel count and stride once). Per shape and implementation: the median time of the forward pass and of
the backward pass (grad input and grad weight together), in float32 and, on CUDA, under bf16 autocast, measured
in turns with the other implementations; and the largest relative error of its float64 forward, grad input and
grad weight against ``F.conv3d`` (what the exactness test checks on the CPU, here on the device itself).
The JSON is written after every shape, so a run cut short keeps what it measured.

    python benchmarks/kernel_variants.py --backbone x3d_tiny --frames 8 --size 32 --batch 4   # CPU check
    python benchmarks/kernel_variants.py --device cuda --out benchmarks/gpu/kernel_variants_gpu.json
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import torch
import torch.nn.functional as F
from step_timing import median_step_times
from torch import nn

from hdfbench.models import build_backbone
from hdfbench.models.kernels import DEPTHWISE, DepthwiseConv3d, PointwiseConv3d, runs_on


def layer_shapes(backbone: str, frames: int, size: int, batch: int) -> list[dict]:
    """Return the distinct (kind, input shape, channels out, stride) of the backbone's switchable convolutions."""
    model = build_backbone(backbone, 7, frames, size, {})
    seen: dict[tuple, dict] = {}

    def record(module: nn.Conv3d, inputs: tuple[torch.Tensor, ...]) -> None:
        kind = "depthwise" if isinstance(module, DepthwiseConv3d) else "pointwise"
        key = (kind, tuple(inputs[0].shape), module.out_channels, tuple(module.stride))
        seen.setdefault(key, {"kind": kind, "input": list(key[1]), "out_channels": key[2], "stride": list(key[3])})
        seen[key]["count"] = seen[key].get("count", 0) + 1

    for module in model.modules():
        if isinstance(module, DepthwiseConv3d | PointwiseConv3d):
            module.register_forward_pre_hook(record)
    with torch.no_grad():
        model(torch.zeros(batch, 3, frames, size, size))
    return list(seen.values())


def implementations(kind: str, device_type: str) -> dict:
    """Return ``{name: (x, weight, stride) -> y}`` for the kernels of ``kind`` that run on ``device_type``."""
    if kind == "depthwise":
        return {name: _depthwise(name) for name in DEPTHWISE.names() if runs_on(name, device_type)}

    def matmul(x, weight, stride):
        x = x.contiguous(memory_format=torch.channels_last_3d)
        return F.linear(x.permute(0, 2, 3, 4, 1), weight.flatten(1)).permute(0, 4, 1, 2, 3)

    return {"native": lambda x, weight, stride: F.conv3d(x, weight, None, stride), "matmul": matmul}


def _depthwise(name: str):
    return lambda x, weight, stride: DEPTHWISE.get(name)(x, weight, tuple(stride), (1, 1, 1))


def exactness(fn, shape: dict, device: torch.device) -> float:
    """Return the largest relative error of ``fn``'s float64 forward and both gradients against ``F.conv3d``."""
    x = torch.randn(shape["input"], dtype=torch.float64, device=device)
    groups = x.shape[1] if shape["kind"] == "depthwise" else 1
    k = 3 if shape["kind"] == "depthwise" else 1
    weight = torch.randn(shape["out_channels"], x.shape[1] // groups, k, k, k, dtype=torch.float64, device=device)
    padding = (1, 1, 1) if k == 3 else (0, 0, 0)
    results = []
    for conv in (
        lambda a, w: fn(a, w, shape["stride"]),
        lambda a, w: F.conv3d(a, w, None, shape["stride"], padding, 1, groups),
    ):
        a, w = x.clone().requires_grad_(), weight.clone().requires_grad_()
        y = conv(a, w)
        torch.manual_seed(1)  # the same upstream gradient (logically: randn_like would follow y's strides)
        gx, gw = torch.autograd.grad(y, (a, w), torch.randn(y.shape, dtype=y.dtype, device=y.device))
        results.append((y, gx, gw))
    return max(((g - r).abs().max() / r.abs().max()).item() for g, r in zip(*results))


def timings(fns: dict, shape: dict, device: torch.device, dtype: torch.dtype | None, args) -> dict:
    """Return ``{name: {"forward_ms", "backward_ms"}}`` measured in turns."""
    x = torch.randn(shape["input"], device=device).requires_grad_()
    k, groups = (3, x.shape[1]) if shape["kind"] == "depthwise" else (1, 1)
    weight = torch.randn(shape["out_channels"], x.shape[1] // groups, k, k, k, device=device).requires_grad_()

    def forward(fn):
        with torch.autocast(device.type, dtype=dtype or torch.float32, enabled=dtype is not None):
            a, w = (x.to(dtype), weight.to(dtype)) if dtype is not None else (x, weight)
            return fn(a, w, shape["stride"])

    outputs = {name: forward(fn) for name, fn in fns.items()}
    upstream = torch.randn_like(next(iter(outputs.values())))
    fwd = median_step_times(
        {n: lambda fn=fn: forward(fn) for n, fn in fns.items()}, device, args.warmup, args.rounds, 1
    )

    def backward(name):
        y = forward(fns[name])
        torch.autograd.grad(y, (x, weight), upstream)

    both = median_step_times({n: lambda n=n: backward(n) for n in fns}, device, args.warmup, args.rounds, 1)
    return {n: {"forward_ms": 1e3 * fwd[n], "backward_ms": 1e3 * (both[n] - fwd[n])} for n in fns}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backbone", default="x3d_s")
    parser.add_argument("--frames", type=int, default=16)
    parser.add_argument("--size", type=int, default=112)
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--warmup", type=int, default=2)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--out", help="write the JSON here (after every shape)")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    precisions = {"fp32": None, **({"bf16": torch.bfloat16} if device.type == "cuda" else {})}
    result: dict = {"setup": vars(args), "torch": torch.__version__, "shapes": []}
    if device.type == "cuda":
        result["device_name"] = torch.cuda.get_device_name(device)
    for shape in layer_shapes(args.backbone, args.frames, args.size, args.batch):
        fns = implementations(shape["kind"], device.type)
        shape["float64_relative_error"] = {name: exactness(fn, shape, device) for name, fn in fns.items()}
        shape["timings"] = {p: timings(fns, shape, device, dtype, args) for p, dtype in precisions.items()}
        result["shapes"].append(shape)
        print(json.dumps(shape))
        if args.out:
            Path(args.out).write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()
