"""The backbone registry and the contract every backbone follows."""

from __future__ import annotations

from pathlib import Path
from typing import ClassVar, Literal

import torch
from torch import nn

from hdfbench.models.checkpoints import CheckpointError, LoadReport, check_weights, load_weights
from hdfbench.registry import Registry
from hdfbench.schema import StrictModel

#: What a backbone may offer beyond the contract every backbone keeps (``Backbone.capabilities``); a strategy
#: names those it needs (``Strategy.check_backbone``), and ``hdfbench.testing.check_backbone`` checks them.
#: ``stages``: an ``after_stage`` ModuleList of slots (identity by default) applied to each stage's output, with
#: ``stage_channels()`` and ``stage_frames()`` giving the C and T each slot sees; ``feature_point``: a
#: ``feature_point`` attribute, ``"after_dropout"`` (default) or ``"before_dropout"``, saying which of the
#: head's tensors is returned as the features.
Capability = Literal["stages", "feature_point"]


class Backbone(nn.Module):
    """A video classifier; what every backbone promises (checked by ``hdfbench.testing.check_backbone``):

    - built as ``cls(num_classes=…, frames=T, size=S, options=cls.Options(...))`` (``build_backbone``), its
      options a pydantic ``Options`` model that the experiment config validates;
    - ``forward(clips (B, 3, T, S, S))`` returns ``(logits (B, num_classes), features (B, feature_dim))`` with
      ``logits = self.classifier(features)``;
    - the classifier is replaced through ``reset_classifier(module)`` (LDAM-DRW's normalised classifier),
      never by assigning an attribute of a particular name;
    - ``capabilities`` declares what else it offers (``Capability``).
    """

    Options: ClassVar[type[StrictModel]] = StrictModel
    name: ClassVar[str] = ""
    capabilities: ClassVar[frozenset[Capability]] = frozenset()
    #: The smallest clip (frames, side) it builds for: what the weights check and the contract build.
    probe_clip: ClassVar[tuple[int, int]] = (4, 32)
    feature_dim: int
    classifier: nn.Module
    #: What ``options.pretrained`` loaded (``models/checkpoints.py:LoadReport``); None when trained from scratch.
    pretrained_report: LoadReport | None = None

    def forward(self, clips: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:  # pragma: no cover
        raise NotImplementedError

    def load_pretrained(self, path: str | Path) -> LoadReport:
        """Load the weights file at ``path`` (a layout of ``models/checkpoints.py``; the old classifier dropped)
        into this backbone; keep the ``LoadReport`` in ``pretrained_report`` and return it."""
        self.pretrained_report = load_weights(self, path)
        return self.pretrained_report

    @classmethod
    def check_options(cls, options: StrictModel) -> list[tuple[str, str]]:
        """Return (option, problem) pairs: whether the file ``options.pretrained`` (where the options have one) is
        a checkpoint that fits this backbone, read and mapped onto a shape-only build (nothing is loaded).
        Config validation calls it. A file that is not there is left to the preflight, which checks it on every
        node before any trial, as it does data roots (``sweep/cluster.py``)."""
        path = getattr(options, "pretrained", None)
        if not path or not Path(path).exists():
            return []
        frames, size = cls.probe_clip
        with torch.device("meta"):  # shapes only: no memory, no initialisation cost
            bare = cls(num_classes=2, frames=frames, size=size, options=options.model_copy(update={"pretrained": None}))
        try:
            check_weights(bare, path)
        except (FileNotFoundError, CheckpointError) as exc:
            return [("pretrained", str(exc))]
        return []

    def reset_classifier(self, module: nn.Module) -> None:
        """Make ``module`` (features (B, feature_dim) → logits) the classifier whose output ``forward`` returns."""
        self.classifier = module

    def configure_kernels(self, device_type: str) -> dict[str, str]:
        """Choose the fastest exact kernels for ``device_type`` where the backbone has a choice; return what was
        chosen, by kind (a run records it). None by default."""
        return {}


BACKBONES: Registry[type[Backbone]] = Registry("backbone", "hdfbench.backbones", Backbone)


def build_backbone(name: str, num_classes: int, frames: int, size: int, options: dict) -> Backbone:
    """Return the registered backbone ``name`` built for clips of ``frames`` × ``size`` × ``size``."""
    cls = BACKBONES.get(name)
    return cls(num_classes=num_classes, frames=frames, size=size, options=cls.Options(**options))
