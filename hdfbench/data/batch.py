"""One mini-batch of clips, as the loaders yield it and the strategies train on it."""

from __future__ import annotations

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
        return Batch(
            self.clips.to(device, non_blocking=True),
            self.labels.to(device, non_blocking=True),
            {k: v.to(device, non_blocking=True) for k, v in self.groups.items()},
            None if self.index is None else self.index.to(device, non_blocking=True),
        )
