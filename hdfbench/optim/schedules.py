"""Per-step learning-rate schedules: linear warm-up, then cosine or constant."""

from __future__ import annotations

import math
from typing import Literal

import torch
from pydantic import Field

from hdfbench.schema import StrictModel


class ScheduleSpec(StrictModel):
    """The learning-rate schedule, applied per step: linear warm-up then cosine or constant."""

    name: Literal["cosine", "constant"] = "cosine"
    warmup_epochs: float = Field(default=0.0, ge=0)
    min_lr_ratio: float = Field(default=0.0, ge=0, le=1)


def lr_factor(step: int, total_steps: int, warmup_steps: int, spec: ScheduleSpec) -> float:
    """Return the learning-rate multiplier at ``step`` (0-based) of ``total_steps``."""
    if step < warmup_steps:
        return (step + 1) / warmup_steps
    if spec.name == "constant":
        return 1.0
    progress = (step - warmup_steps) / max(1, total_steps - warmup_steps)
    return spec.min_lr_ratio + (1 - spec.min_lr_ratio) * 0.5 * (1 + math.cos(math.pi * min(progress, 1.0)))


def build_scheduler(
    optimizer: torch.optim.Optimizer, spec: ScheduleSpec, epochs: int, steps_per_epoch: int
) -> torch.optim.lr_scheduler.LambdaLR:
    """Return a per-step LambdaLR implementing ``spec`` over ``epochs`` × ``steps_per_epoch``."""
    total, warmup = epochs * steps_per_epoch, int(round(spec.warmup_epochs * steps_per_epoch))
    return torch.optim.lr_scheduler.LambdaLR(optimizer, lambda step: lr_factor(step, total, warmup, spec))
