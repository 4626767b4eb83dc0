"""What the step benchmarks share: their command-line options (the network, the clip shape, where it runs)
and timing several training steps in turns (``hdfbench/timing.py``, which ``--dry-run --measure`` uses too)."""

from __future__ import annotations

import argparse

from hdfbench.timing import median_step_times, sync

__all__ = ["add_step_arguments", "kernel_options", "median_step_times", "sync"]


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
