"""Timing steps on a noisy machine: several settings called in turns, so that its slow stretches hit each
alike (``hdfbench run --dry-run --measure`` and the step benchmarks in ``benchmarks/`` share it)."""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable

import torch


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
