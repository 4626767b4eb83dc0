"""Base optimizers (AdamW, Adam, SGD) as the experiment config names them."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, Literal

import torch
from pydantic import Field

from hdfbench.schema import StrictModel


class OptimizerSpec(StrictModel):
    """The base optimizer: name, learning rate, weight decay, momentum (SGD only), and whether its update
    runs as one fused kernel (``fused``; a choice of computation, not of method, so not part of a run's id).

    The fine-tuning recipe (docs/datasets.md, "Pretrained weights"): ``classifier_lr_mult`` multiplies the
    learning rate of the new classifier (its own parameter group, which schedules scale alike), and
    ``freeze_bn_stats`` keeps every BatchNorm in evaluation mode while training (running statistics used,
    never updated; ``optim/batchnorm.py``). Both are ``LATE_FIELDS``: at their defaults no run id changes.
    """

    name: Literal["adamw", "adam", "sgd"] = "adamw"
    lr: float = Field(default=1e-3, gt=0)
    weight_decay: float = Field(default=0.05, ge=0)
    momentum: float = Field(default=0.9, ge=0, lt=1)
    fused: Literal["auto"] | bool = Field(
        default="auto",
        description="fused update kernel (auto: for adamw and adam, which have one on CPU and CUDA; "
        "measured faster, docs/performance.md)",
    )

    classifier_lr_mult: float = Field(
        default=1.0,
        gt=0,
        description="learning-rate multiplier for the classifier's parameters (those under a module named "
        "'classifier'), e.g. 10 when fine-tuning a pretrained backbone",
    )
    freeze_bn_stats: bool = Field(
        default=False,
        description="BatchNorm layers stay in evaluation mode during training: they normalise with the "
        "(pretrained) running statistics and never update them; their scale and shift still train",
    )

    COMPUTE_FIELDS = ("fused",)
    LATE_FIELDS = ("classifier_lr_mult", "freeze_bn_stats")


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


#: The module name whose parameters ``classifier_lr_mult`` scales: the backbone's new linear layer
#: (``X3D.classifier``; LDAM-DRW's cosine classifier takes the same name).
CLASSIFIER = "classifier"


def param_groups(
    named: Iterable[tuple[str, torch.nn.Parameter]], spec: OptimizerSpec
) -> list[torch.nn.Parameter] | list[dict[str, Any]]:
    """Return the trainable ones of the ``(name, parameter)`` pairs as an optimizer takes them: a plain list
    (one group, as before the option existed) when ``spec.classifier_lr_mult`` is 1, else the groups
    ``{"params": rest}`` (at ``spec.lr``) and ``{"params": classifier, "lr": spec.lr × classifier_lr_mult}``
    (a parameter is the classifier's when a component of its name is ``CLASSIFIER``), empty groups left out."""
    trainable = [(name, p) for name, p in named if p.requires_grad]
    if spec.classifier_lr_mult == 1.0:
        return [p for _, p in trainable]
    head = [p for name, p in trainable if CLASSIFIER in name.split(".")]
    rest = [p for name, p in trainable if CLASSIFIER not in name.split(".")]
    groups: list[dict[str, Any]] = [{"params": rest}] if rest else []
    if head:
        groups.append({"params": head, "lr": spec.lr * spec.classifier_lr_mult})
    return groups


def build_optimizer(
    params: Iterable[torch.nn.Parameter] | Iterable[dict[str, Any]], spec: OptimizerSpec
) -> torch.optim.Optimizer:
    """Return the base optimizer named by ``spec`` over ``params`` (parameters, or the groups of
    ``param_groups``)."""
    cls, kwargs = optimizer_class(spec)
    listed: list[Any] = list(params)
    return cls(listed, **kwargs)
