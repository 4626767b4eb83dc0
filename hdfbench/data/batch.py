"""One mini-batch of clips, as the loaders yield it and the strategies train on it."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import torch

if TYPE_CHECKING:
    from hdfbench.data.transforms import AugmentParams


@dataclass
class Batch:
    """One mini-batch: clips (B, 3, T, H, W), labels (B,), integer group codes per metadata field, and
    each clip's position in the training set (``index``; None where the batch is not from one).

    ``augment`` holds the augmentation still due to uint8 clips, applied where they train
    (``loader.to_device``; None: the clips are final).
    """

    clips: torch.Tensor
    labels: torch.Tensor
    groups: dict[str, torch.Tensor] = field(default_factory=dict)
    index: torch.Tensor | None = None
    augment: AugmentParams | None = None

    def to(self, device: torch.device) -> Batch:
        """Return this batch on ``device``."""
        moved = self.map(lambda t: t.to(device, non_blocking=True))
        moved.augment = None if self.augment is None else self.augment.to(device)
        return moved

    def pin_memory(self) -> Batch:
        """Return this batch with its tensors page-locked (what ``DataLoader(pin_memory=True)`` calls on it; without
        it the batch stays pageable and ``non_blocking`` copies do not overlap)."""
        pinned = self.map(lambda t: t.pin_memory())
        pinned.augment = None if self.augment is None else self.augment.pin_memory()
        return pinned

    def map(self, fn: Callable[[torch.Tensor], torch.Tensor]) -> Batch:
        """Return a batch whose clips, labels, group codes and index are ``fn`` of this one's (``augment`` left
        None: its tensors are moved by its own methods)."""
        return Batch(
            fn(self.clips),
            fn(self.labels),
            {k: fn(v) for k, v in self.groups.items()},
            None if self.index is None else fn(self.index),
        )
