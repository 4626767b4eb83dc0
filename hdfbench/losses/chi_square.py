"""χ²-divergence DRO over a batch (Levy, Carmon, Duchi & Sidford, NeurIPS 2020; their fast-dro code).

The robust loss is max_p Σ_i p_i·ℓ_i over the probability vectors within χ² radius ρ of uniform,
D(p) = (1/2m)·Σ_i (m·p_i − 1)² ≤ ρ (fast-dro's constrained χ² set without regulariser). The best
response is p_i ∝ (ℓ_i − η)₊ with η making the constraint tight; here η is solved in closed form
instead of fast-dro's bisection (tolerance 1e-4), so the weights are exact to rounding.
"""

from __future__ import annotations

import math

import torch


def chi_square_weights(losses: torch.Tensor, rho: float) -> torch.Tensor:
    """Return the worst-case weights p (summing to one) of the χ² ball of radius ``rho`` for ``losses``.

    With the losses sorted in decreasing order and the support the k largest, p_i = (ℓ_i − η)/Σ(ℓ_j − η);
    the constraint Σp² = (1 + 2ρ)/m gives η = μ_k − √(m·σ²_k / ((1 + 2ρ)·k − m)) with μ_k, σ²_k the
    mean and variance of the k largest; the support is the k whose η falls between ℓ_(k+1) and ℓ_(k).
    When uniform weights over the largest loss(es) are inside the ball (a point mass when
    m ≤ 1 + 2ρ, or ties) they are the maximiser; equal losses give uniform weights.
    """
    if rho < 0:
        raise ValueError(f"rho must be >= 0, got {rho}")
    v = losses.detach().double().flatten()
    m, c = v.numel(), 1.0 + 2.0 * rho
    if rho == 0:  # the ball is the uniform weights alone
        return torch.full_like(losses, 1.0 / m)
    top = v == v.max()
    if c * top.sum() >= m:  # uniform over the largest losses is inside the ball (Σp² = 1/#ties ≤ c/m)
        return (top.double() / top.sum()).to(losses.dtype)
    ordered = v.sort(descending=True).values
    k = torch.arange(1, m + 1, dtype=v.dtype, device=v.device)
    mean = ordered.cumsum(0) / k
    var = ((ordered**2).cumsum(0) / k - mean**2).clamp_min(0)
    spread = (c * k - m).clamp_min(0)
    eta = mean - (m * var / spread).sqrt()  # inf / nan where c·k ≤ m: those supports are infeasible
    below = torch.cat([ordered[1:], ordered.new_full((1,), -math.inf)])
    valid = (spread > 0) & (eta <= ordered) & (eta >= below)
    eta_star = eta[int(valid.nonzero()[0])] if bool(valid.any()) else eta[-1]
    weights = (v - eta_star).clamp_min(0)
    return (weights / weights.sum()).to(losses.dtype)


def chi_square_dro_loss(losses: torch.Tensor, rho: float) -> torch.Tensor:
    """Return Σ_i p_i·ℓ_i with the best-response ``chi_square_weights`` held constant (no gradient through p)."""
    return (chi_square_weights(losses, rho) * losses).sum()
