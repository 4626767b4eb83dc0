"""What the step benchmarks share: their command-line options (the network, the clip shape, where it runs)
and timing several training steps in turns, so that a noisy machine's slow stretches hit each alike."""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable

import torch


def add_step_arguments(parser: argparse.ArgumentParser) -> argparse.ArgumentParser:
    """Add --backbone, --frames, --size, --batch, --threads, --device, --warmup, --depthwise and --pointwise
    (defaults: the quickstart's x3d_tiny, 16 × 8 × 32² on 2 CPU threads, kernels ``auto``) to ``parser``; return
    it."""
    parser.add_argument("--backbone", default="x3d_tiny")
    parser.add_argument("--frames", type=int, default=8)
    parser.add_argument("--size", type=int, default=32)
    parser.add_argument("--batch", type=int, default=16)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--warmup", type=int, default=3, help="steps of each setting before timing")
    parser.add_argument("--depthwise", default="auto", help="model.options.depthwise (a DEPTHWISE kernel or auto)")
    parser.add_argument("--pointwise", default="auto", help="model.options.pointwise (native, matmul or auto)")
    return parser


def kernel_options(args: argparse.Namespace) -> dict[str, str]:
    """Return the model options that ``--depthwise`` and ``--pointwise`` set."""
    return {"depthwise": args.depthwise, "pointwise": args.pointwise}


def sync(device: torch.device) -> None:
    """Wait for the device's queued work (a CUDA step is timed when it has run, not when it was queued)."""
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def median_step_times(
    steps: dict[str, Callable[[], object]], device: torch.device, warmup: int, rounds: int, per_turn: int
) -> dict[str, float]:
    """Return the median seconds of each named step: ``warmup`` untimed calls each, then ``rounds`` rounds in
    which every step in turn is called ``per_turn`` times."""
    for step in steps.values():
        for _ in range(warmup):
            step()
    times: dict[str, list[float]] = {name: [] for name in steps}
    for _ in range(rounds):
        for name, step in steps.items():
            for _ in range(per_turn):
                sync(device)
                start = time.perf_counter()
                step()
                sync(device)
                times[name].append(time.perf_counter() - start)
    return {name: statistics.median(t) for name, t in times.items()}
