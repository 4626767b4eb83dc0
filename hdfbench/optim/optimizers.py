"""Base optimizers (AdamW, Adam, SGD) as the experiment config names them."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Literal

import torch
from pydantic import Field

from hdfbench.schema import StrictModel


class OptimizerSpec(StrictModel):
    """The base optimizer: name, learning rate, weight decay, momentum (SGD only)."""

    name: Literal["adamw", "adam", "sgd"] = "adamw"
    lr: float = Field(default=1e-3, gt=0)
    weight_decay: float = Field(default=0.05, ge=0)
    momentum: float = Field(default=0.9, ge=0, lt=1)


_OPTIMIZERS: dict[str, type[torch.optim.Optimizer]] = {
    "adamw": torch.optim.AdamW,
    "adam": torch.optim.Adam,
    "sgd": torch.optim.SGD,
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
