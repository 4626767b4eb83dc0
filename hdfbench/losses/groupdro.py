"""Online GroupDRO (Sagawa et al., ICLR 2020) and CVaR-DRO over per-sample losses."""

from __future__ import annotations

import math

import torch
from torch import nn


def group_mean_losses(
    losses: torch.Tensor, group_ids: torch.Tensor, n_groups: int
) -> tuple[torch.Tensor, torch.Tensor]:
    """Return (mean loss per group, count per group) over a batch; absent groups have loss 0."""
    onehot = torch.nn.functional.one_hot(group_ids, n_groups).to(losses.dtype)
    counts = onehot.sum(0)
    return (onehot * losses[:, None]).sum(0) / counts.clamp_min(1), counts


class GroupDRO(nn.Module):
    """The online GroupDRO objective with adversarial group weights ``q`` (a registered buffer).

    Called as ``(per_sample_losses, group_ids)``; returns Σ_g q_g·loss_g after the exponentiated-
    gradient update q ← q·exp(η·adjusted_loss_g), renormalised. ``adjustment`` C adds C/√n_g to
    every group's loss in the update, present in the batch or not (``group_counts`` = n_g, the
    training counts), as Sagawa et al.'s ``LossComputer``; ``normalize_loss`` divides the adjusted
    losses by their sum first (a scale-free step size). A group absent from the batch has loss 0, so
    without adjustment its weight is multiplied by exp(0) before renormalising, as in the reference.

    The returned loss leaves out the constant Σ_g q_g·C/√n_g that the reference's reported loss
    includes (the gradient is the same); ``adjustment_term`` returns it for logging.
    """

    q: torch.Tensor  # buffers (registered in __init__)
    adjustment: torch.Tensor

    def __init__(
        self,
        n_groups: int,
        eta: float = 0.01,
        normalize_loss: bool = False,
        adjustment: float = 0.0,
        group_counts: torch.Tensor | list[int] | None = None,
    ):
        super().__init__()
        self.n_groups, self.eta, self.normalize_loss = n_groups, eta, normalize_loss
        self.register_buffer("q", torch.full((n_groups,), 1.0 / n_groups))
        bonus = torch.zeros(n_groups)
        if adjustment:
            if group_counts is None:
                raise ValueError("GroupDRO adjustment needs the training group counts")
            counts = torch.as_tensor(group_counts, dtype=torch.float32)
            bonus = adjustment / counts.clamp_min(1).sqrt()
        self.register_buffer("adjustment", bonus)

    def forward(self, losses: torch.Tensor, group_ids: torch.Tensor, update: bool = True) -> torch.Tensor:
        """Return the robust loss; update ``q`` first unless ``update`` is False (e.g. SAM's 2nd pass)."""
        group_losses, _ = group_mean_losses(losses, group_ids, self.n_groups)
        if update:
            with torch.no_grad():
                adjusted = group_losses.detach() + self.adjustment
                if self.normalize_loss:
                    adjusted = adjusted / adjusted.sum().clamp_min(1e-12)
                q = self.q * torch.exp(self.eta * adjusted)
                self.q.copy_(q / q.sum())
        return (self.q * group_losses).sum()

    def adjustment_term(self) -> float:
        """Return Σ_g q_g·C/√n_g: what the reference's reported robust loss adds to ours."""
        return float((self.q * self.adjustment).sum())


def cvar_loss(losses: torch.Tensor, alpha: float) -> torch.Tensor:
    """Return the exact CVaR_α of the empirical loss distribution (Rockafellar & Uryasev; Levy et al., 2020).

    With m = α·N and the losses sorted in decreasing order, the j-th (from 0) gets weight
    min(max(m − j, 0), 1)/m: 1/m on each of the ⌊m⌋ worst and the remainder (m − ⌊m⌋)/m on the next,
    as fast-dro's CVaR; for integer m it is the mean of the worst m.
    """
    if not 0 < alpha <= 1:
        raise ValueError(f"alpha must be in (0, 1], got {alpha}")
    m = alpha * losses.numel()
    worst = losses.topk(min(losses.numel(), math.floor(m) + 1)).values
    ranks = torch.arange(worst.numel(), device=losses.device, dtype=losses.dtype)
    return ((m - ranks).clamp(0, 1) * worst).sum() / m
