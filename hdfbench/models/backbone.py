"""The backbone registry and the contract every backbone follows."""

from __future__ import annotations

from typing import ClassVar

import torch
from torch import nn

from hdfbench.registry import Registry
from hdfbench.schema import StrictModel


class Backbone(nn.Module):
    """A video classifier mapping clips (B, 3, T, H, W) to ``(logits (B, C), features (B, D))``.

    Subclasses declare their options as a pydantic ``Options`` model, which the experiment
    config validates, and expose ``feature_dim``.
    """

    Options: ClassVar[type[StrictModel]] = StrictModel
    name: ClassVar[str] = ""
    feature_dim: int

    def forward(self, clips: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:  # pragma: no cover
        raise NotImplementedError

    def configure_kernels(self, device_type: str) -> dict[str, str]:
        """Choose the fastest exact kernels for ``device_type`` where the backbone has a choice; return what was
        chosen, by kind (a run records it). None by default."""
        return {}


BACKBONES: Registry[type[Backbone]] = Registry("backbone", "hdfbench.backbones", Backbone)


def build_backbone(name: str, num_classes: int, frames: int, size: int, options: dict) -> Backbone:
    """Return the registered backbone ``name`` built for clips of ``frames`` × ``size`` × ``size``."""
    cls = BACKBONES.get(name)
    return cls(num_classes=num_classes, frames=frames, size=size, options=cls.Options(**options))
