"""One mini-batch of clips, as the loaders yield it and the strategies train on it."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import torch


@dataclass
class Batch:
    """One mini-batch: clips (B, 3, T, H, W), labels (B,), integer group codes per metadata field, and
    each clip's position in the training set (``index``; None where the batch is not from one)."""

    clips: torch.Tensor
    labels: torch.Tensor
    groups: dict[str, torch.Tensor] = field(default_factory=dict)
    index: torch.Tensor | None = None

    def to(self, device: torch.device) -> Batch:
        """Return this batch on ``device``."""
        return self.map(lambda t: t.to(device, non_blocking=True))

    def pin_memory(self) -> Batch:
        """Return this batch in page-locked memory (DataLoader's ``pin_memory`` calls it on custom batch types;
        without it the batch stays pageable and ``non_blocking`` copies do not overlap)."""
        return self.map(lambda t: t.pin_memory())

    def map(self, fn: Callable[[torch.Tensor], torch.Tensor]) -> Batch:
        """Return a batch whose every tensor is ``fn`` of this one's."""
        return Batch(
            fn(self.clips),
            fn(self.labels),
            {k: fn(v) for k, v in self.groups.items()},
            None if self.index is None else fn(self.index),
        )
