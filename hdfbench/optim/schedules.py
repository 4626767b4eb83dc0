"""Base optimizers and per-step learning-rate schedules."""

from __future__ import annotations

import math
from collections.abc import Iterable
from typing import Literal

import torch
from pydantic import Field

from hdfbench.config_base import StrictModel


class OptimizerSpec(StrictModel):
    """The base optimizer: name, learning rate, weight decay, momentum (SGD only)."""

    name: Literal["adamw", "adam", "sgd"] = "adamw"
    lr: float = Field(default=1e-3, gt=0)
    weight_decay: float = Field(default=0.05, ge=0)
    momentum: float = Field(default=0.9, ge=0, lt=1)


class ScheduleSpec(StrictModel):
    """The learning-rate schedule, applied per step: linear warm-up then cosine or constant."""

    name: Literal["cosine", "constant"] = "cosine"
    warmup_epochs: float = Field(default=0.0, ge=0)
    min_lr_ratio: float = Field(default=0.0, ge=0, le=1)


_OPTIMIZERS: dict[str, type[torch.optim.Optimizer]] = {
    "adamw": torch.optim.AdamW, "adam": torch.optim.Adam, "sgd": torch.optim.SGD,
}


def optimizer_class(spec: OptimizerSpec) -> tuple[type[torch.optim.Optimizer], dict]:
    """Return (optimizer class, keyword arguments) described by ``spec`` (what SAM wraps)."""
    kwargs = {"lr": spec.lr, "weight_decay": spec.weight_decay}
    if spec.name == "sgd":
        kwargs["momentum"] = spec.momentum
    return _OPTIMIZERS[spec.name], kwargs


def build_optimizer(params: Iterable[torch.nn.Parameter], spec: OptimizerSpec) -> torch.optim.Optimizer:
    """Return the base optimizer named by ``spec`` over ``params``."""
    cls, kwargs = optimizer_class(spec)
    return cls(list(params), **kwargs)


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
