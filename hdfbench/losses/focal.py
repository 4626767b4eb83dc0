"""Focal loss (Lin et al., ICCV 2017): cross-entropy down-weighted on well-classified clips."""

from __future__ import annotations

import torch
import torch.nn.functional as F


def focal_loss(
    logits: torch.Tensor,
    targets: torch.Tensor,
    gamma: float = 2.0,
    alpha: torch.Tensor | None = None,
    reduction: str = "mean",
) -> torch.Tensor:
    """Return FL = −α_y (1 − p_y)^γ log p_y, reduced by ``mean`` / ``sum`` / ``none``.

    ``alpha`` is an optional per-class weight vector; with it the mean is the α-weighted mean
    (Σ α_y FL / Σ α_y), as ``F.cross_entropy(weight=...)`` does, so γ = 0 equals weighted CE.
    """
    log_p = F.log_softmax(logits, dim=-1).gather(1, targets[:, None]).squeeze(1)
    loss = -((1.0 - log_p.exp()).clamp_min(0.0) ** gamma) * log_p
    weights = None if alpha is None else alpha.to(logits.dtype)[targets]
    if weights is not None:
        loss = loss * weights
    if reduction == "none":
        return loss
    if reduction == "sum":
        return loss.sum()
    return loss.sum() / weights.sum() if weights is not None else loss.mean()
