"""The command-line options every step benchmark shares: the network, the clip shape and where it runs."""

from __future__ import annotations

import argparse


def add_step_arguments(parser: argparse.ArgumentParser) -> argparse.ArgumentParser:
    """Add --backbone, --frames, --size, --batch, --threads, --device and --warmup (defaults: the quickstart's
    x3d_tiny, 16 × 8 × 32² on 2 CPU threads) to ``parser``; return it."""
    parser.add_argument("--backbone", default="x3d_tiny")
    parser.add_argument("--frames", type=int, default=8)
    parser.add_argument("--size", type=int, default=32)
    parser.add_argument("--batch", type=int, default=16)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--warmup", type=int, default=3, help="steps of each setting before timing")
    return parser
