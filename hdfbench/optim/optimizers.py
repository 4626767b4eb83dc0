"""Base optimizers (AdamW, Adam, SGD) as the experiment config names them."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Literal

import torch
from pydantic import Field

from hdfbench.schema import StrictModel


class OptimizerSpec(StrictModel):
    """The base optimizer: name, learning rate, weight decay, momentum (SGD only), and whether its update
    runs as one fused kernel (``fused``; a choice of computation, not of method, so not part of a run's id)."""

    name: Literal["adamw", "adam", "sgd"] = "adamw"
    lr: float = Field(default=1e-3, gt=0)
    weight_decay: float = Field(default=0.05, ge=0)
    momentum: float = Field(default=0.9, ge=0, lt=1)
    fused: Literal["auto"] | bool = Field(
        default="auto",
        description="fused update kernel (auto: for adamw and adam, which have one on CPU and CUDA; "
        "measured faster, docs/performance.md)",
    )

    COMPUTE_FIELDS = ("fused",)


_OPTIMIZERS: dict[str, type[torch.optim.Optimizer]] = {
    "adamw": torch.optim.AdamW,
    "adam": torch.optim.Adam,
    "sgd": torch.optim.SGD,
}
#: The optimizers ``fused: auto`` fuses.
_FUSED_BY_DEFAULT = ("adamw", "adam")


def optimizer_class(spec: OptimizerSpec) -> tuple[type[torch.optim.Optimizer], dict]:
    """Return (optimizer class, keyword arguments) described by ``spec`` (what SAM wraps)."""
    kwargs: dict = {"lr": spec.lr, "weight_decay": spec.weight_decay}
    if spec.name == "sgd":
        kwargs["momentum"] = spec.momentum
    fused = spec.name in _FUSED_BY_DEFAULT if spec.fused == "auto" else spec.fused
    if fused:
        kwargs["fused"] = True
    return _OPTIMIZERS[spec.name], kwargs


def optimizer_implementation(optimizer: torch.optim.Optimizer) -> str:
    """Return how ``optimizer`` (or, for a wrapper such as SAM, its ``base_optimizer``) updates: ``fused``,
    ``foreach`` or ``for-loop``."""
    inner = getattr(optimizer, "base_optimizer", optimizer)
    defaults = inner.defaults
    if defaults.get("fused"):
        return "fused"
    return "for-loop" if defaults.get("foreach") is False else "foreach"


def build_optimizer(params: Iterable[torch.nn.Parameter], spec: OptimizerSpec) -> torch.optim.Optimizer:
    """Return the base optimizer named by ``spec`` over ``params``."""
    cls, kwargs = optimizer_class(spec)
    return cls(list(params), **kwargs)
