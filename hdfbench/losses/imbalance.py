"""Losses and weights for class imbalance: class-balanced weights, logit adjustment, LDAM."""

from __future__ import annotations

import torch
import torch.nn.functional as F


def class_balanced_weights(counts, beta: float | None = None) -> torch.Tensor:
    """Return per-class weights summing to the number of classes.

    ``beta`` None: inverse frequency 1/n_c. Otherwise the effective-number weights of Cui et al.
    (CVPR 2019), (1 − β)/(1 − β^n_c). Classes with no clip get weight 0.
    """
    n = torch.as_tensor(counts, dtype=torch.float64)
    if beta is None:
        raw = torch.where(n > 0, 1.0 / n.clamp_min(1), torch.zeros_like(n))
    else:
        raw = torch.where(n > 0, (1.0 - beta) / (1.0 - beta ** n.clamp_min(1)), torch.zeros_like(n))
    return (raw * (n > 0).sum() / raw.sum()).float()


def logit_adjustments(counts, tau: float = 1.0) -> torch.Tensor:
    """Return the additive logit offsets log(π_c^τ + 1e-12) of the training prior π (Menon et al., ICLR 2021).

    The 1e-12 is the reference code's: a class with no training clip gets log(1e-12) ≈ −27.6.
    """
    n = torch.as_tensor(counts, dtype=torch.float64)
    return (((n / n.sum()) ** tau) + 1e-12).log().float()


def logit_adjusted_loss(
    logits: torch.Tensor, targets: torch.Tensor, adjustments: torch.Tensor, reduction: str = "mean"
) -> torch.Tensor:
    """Return the logit-adjusted cross-entropy CE(logits + adjustments, y) (``logit_adjustments``)."""
    return F.cross_entropy(logits + adjustments.to(logits.dtype), targets, reduction=reduction)


def ldam_margins(counts, max_margin: float = 0.5) -> torch.Tensor:
    """Return LDAM's per-class margins ∝ n_c^(−1/4), scaled so the largest is ``max_margin``."""
    n = torch.as_tensor(counts, dtype=torch.float64).clamp_min(1)
    margins = n**-0.25
    return (margins * (max_margin / margins.max())).float()


def ldam_loss(
    logits: torch.Tensor,
    targets: torch.Tensor,
    margins: torch.Tensor,
    scale: float = 30.0,
    weight: torch.Tensor | None = None,
    reduction: str = "mean",
) -> torch.Tensor:
    """Return the LDAM loss (Cao et al., NeurIPS 2019): CE of s·(z − m_y·onehot(y)), optionally class-weighted."""
    shifted = logits - F.one_hot(targets, logits.shape[-1]).to(logits.dtype) * margins.to(logits.dtype)[targets, None]
    return F.cross_entropy(scale * shifted, targets, weight=weight, reduction=reduction)
