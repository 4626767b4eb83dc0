"""HDF's DSM loss (distribution-robust supervised contrastive + information-bottleneck term) and its weighting.

Two variants, chosen by ``variant``:

* ``"paper"`` -- the equations of the HDF figure (DSM panel). With z_i = f_i / ||f_i|| and
  s_ij = cos_ij / tau,  L_D-SC(i) = -(1/|P(i)|) sum_{p in P(i)} log[exp(s_ip) / sum_{a != i} w_ia exp(s_ia)],
  w_ij = exp(-(x_ij - eta)^2 / (2 eta^2)),  L_IB = Tr((1/N) sum_i (z_i - zbar)(z_i - zbar)^T),
  loss = mean_i L_D-SC(i) + ib_weight * L_IB   (the covariance is *minimised*, as the figure's title says).
* ``"released"`` -- the semantics of ``models/DSM.py`` in the released code: logits z z^T / tau minus the
  detached row max, Gaussian weights of those shifted logits normalised per row, log-softmax over *all* j
  (j = i included), L_con,i = -sum_j M_ij w_ij log p_ij / max(sum_j M_ij, 1e-8), IB = Tr(cov_unbiased(z) + 1e-6 I),
  loss = mean_i L_con,i - ib_weight * IB   (the released sign *maximises* the trace: a spreading term).

Choices the sources leave open, and what this module does:

1. Features are L2-normalised first in both variants (the released code does; the figure does not say), and
   the IB term uses the normalised z (as the released code does). Zero vectors stay zero (``F.normalize`` eps).
2. Paper: whether s_ij in the Gaussian weight is raw cosine or cosine / tau is not stated.
   ``weight_on="cosine"`` (default) puts x_ij = cos_ij, so the weight peaks at cosine eta = 0.2;
   ``weight_on="logit"`` puts x_ij = cos_ij / tau, whose peak with tau = 0.07, eta = 0.2 sits at cosine 0.014,
   i.e. it would favour near-orthogonal negatives and crush every other pair, which is unlikely to be intended.
   The similarity inside exp(.) of the contrastive term is always cos / tau (SupCon convention).
3. Paper: P(i) = same label, i excluded; anchors with no positive are undefined in the formula and are
   excluded from the mean over anchors. If no anchor has a positive, the contrastive part is 0, still
   connected to the graph (zero gradient). The weight on L_IB is not drawn; ``ib_weight`` (default 0.5,
   the training script's beta_IB) is used for both variants.
4. Released: the positive mask M is never defined in the released code; here M_ij = [y_i = y_j] and i != j.
   (With the diagonal included the weights, which put almost all their mass on j = i, would make the loss
   -log p_ii / |P(i)|.) Anchors without positives give L_con,i = 0 and stay in the mean over all N anchors,
   as the released ``mean`` does. The row normalisation of the weights is computed as a softmax of the log
   weights (same value, no underflow). ``weight_on`` is ignored: the released weights always use shifted logits.
   The trace of ``torch.cov(z.T) + 1e-6 I`` is computed as the sum of unbiased per-dimension variances plus
   D * 1e-6 (same value, without forming the D x D matrix). The released variant needs N >= 2.
5. Adaptive scaling: lambda_CE = alpha g / (g + 1), lambda_SC = beta / (g + 1) with g the (detached) global
   gradient norm. alpha = 10 and beta = 0.1 are *not* given by any source; the defaults are the released
   code's fixed weights (``RELEASED_FIXED_WEIGHTS``), an inference. ``beta`` here is not the IB weight.
"""

from __future__ import annotations

import math
from typing import Literal

import torch
import torch.nn.functional as F
from torch import Tensor

Variant = Literal["paper", "released"]
WeightOn = Literal["cosine", "logit"]

#: (lambda_CE, lambda_SC) used, fixed, by the released training script: 10 * CE + 0.1 * DSM.
RELEASED_FIXED_WEIGHTS: tuple[float, float] = (10.0, 0.1)

_RELEASED_COV_EPS = 1e-6
_RELEASED_MASK_EPS = 1e-8


def _check(features: Tensor, labels: Tensor, variant: str, temperature: float, eta: float, weight_on: str) -> None:
    if features.ndim != 2:
        raise ValueError(f"features must be (N, D), got shape {tuple(features.shape)}")
    if labels.ndim != 1 or labels.shape[0] != features.shape[0]:
        raise ValueError(f"labels must be (N,) with N = {features.shape[0]}, got shape {tuple(labels.shape)}")
    if variant not in ("paper", "released"):
        raise ValueError(f"variant must be 'paper' or 'released', got {variant!r}")
    if weight_on not in ("cosine", "logit"):
        raise ValueError(f"weight_on must be 'cosine' or 'logit', got {weight_on!r}")
    if not (temperature > 0 and eta > 0):
        raise ValueError(f"temperature and eta must be positive, got {temperature} and {eta}")
    if features.shape[0] == 0:
        raise ValueError("empty batch")
    if variant == "released" and features.shape[0] < 2:
        raise ValueError("the released variant needs N >= 2 (unbiased covariance)")


def _positive_mask(labels: Tensor) -> Tensor:
    """Return the (N, N) bool mask of same-label pairs with the diagonal excluded."""
    same = labels.view(-1, 1) == labels.view(1, -1)
    return same & ~torch.eye(labels.shape[0], dtype=torch.bool, device=labels.device)


def _paper_terms(z: Tensor, labels: Tensor, temperature: float, eta: float, weight_on: str) -> dict[str, Tensor]:
    n = z.shape[0]
    cos = z @ z.T
    logits = cos / temperature
    x = cos if weight_on == "cosine" else logits
    log_w = -((x - eta) ** 2) / (2.0 * eta**2)
    pos = _positive_mask(labels)
    n_pos = pos.sum(dim=1)
    valid = n_pos > 0
    if n > 1:
        eye = torch.eye(n, dtype=torch.bool, device=z.device)
        # log sum_{a != i} w_ia exp(s_ia), with the anchor masked by -inf (every row keeps N - 1 >= 1 terms).
        log_den = torch.logsumexp((logits + log_w).masked_fill(eye, float("-inf")), dim=1, keepdim=True)
        log_prob = logits - log_den
        per_anchor = -torch.where(pos, log_prob, torch.zeros_like(log_prob)).sum(dim=1) / n_pos.clamp(min=1)
        contrastive = (per_anchor * valid).sum() / valid.sum().clamp(min=1)
    else:
        contrastive = z.sum() * 0.0
    centred = z - z.mean(dim=0, keepdim=True)
    ib = (centred**2).sum() / n  # Tr of the 1/N covariance
    return {"contrastive": contrastive, "ib": ib}


def _released_terms(z: Tensor, labels: Tensor, temperature: float, eta: float) -> dict[str, Tensor]:
    logits = z @ z.T / temperature
    logits = logits - logits.max(dim=1, keepdim=True).values.detach()
    w_hat = torch.softmax(-0.5 * ((logits - eta) / eta) ** 2, dim=1)  # = omega / sum_j omega, row-wise
    log_prob = logits - torch.logsumexp(logits, dim=1, keepdim=True)  # j = i included
    mask = _positive_mask(labels).to(z.dtype)
    per_anchor = -(mask * w_hat * log_prob).sum(dim=1) / mask.sum(dim=1).clamp(min=_RELEASED_MASK_EPS)
    ib = z.var(dim=0, unbiased=True).sum() + z.shape[1] * _RELEASED_COV_EPS
    return {"contrastive": per_anchor.mean(), "ib": ib}


def dsm_terms(
    features: Tensor,
    labels: Tensor,
    *,
    variant: Variant = "paper",
    temperature: float = 0.07,
    eta: float = 0.2,
    ib_weight: float = 0.5,
    weight_on: WeightOn = "cosine",
) -> dict[str, Tensor]:
    """Return ``{"contrastive": scalar, "ib": scalar}``: the contrastive part and Tr(Cov(z)), both unweighted.

    ``features`` is (N, D) (L2-normalised inside), ``labels`` is (N,) integer classes. ``ib`` is the positive
    trace (1/N covariance for ``"paper"``; unbiased + 1e-6 I for ``"released"``). ``ib_weight`` is accepted for
    a signature shared with :func:`dsm_loss` and does not affect the terms.
    """
    _check(features, labels, variant, temperature, eta, weight_on)
    z = F.normalize(features, p=2, dim=1)
    if variant == "paper":
        return _paper_terms(z, labels, temperature, eta, weight_on)
    return _released_terms(z, labels, temperature, eta)


def dsm_loss(
    features: Tensor,
    labels: Tensor,
    *,
    variant: Variant = "paper",
    temperature: float = 0.07,
    eta: float = 0.2,
    ib_weight: float = 0.5,
    weight_on: WeightOn = "cosine",
) -> Tensor:
    """Return the scalar DSM loss: ``contrastive + ib_weight * ib`` ("paper") or ``contrastive - ib_weight * ib``
    ("released", which maximises the trace). Arguments as in :func:`dsm_terms`."""
    terms = dsm_terms(
        features, labels, variant=variant, temperature=temperature, eta=eta, ib_weight=ib_weight, weight_on=weight_on
    )
    return combine_terms(terms, variant, ib_weight)


def combine_terms(terms: dict[str, Tensor], variant: Variant, ib_weight: float) -> Tensor:
    """Return the DSM loss from :func:`dsm_terms`' parts: the IB term added ("paper") or subtracted ("released")."""
    sign = 1.0 if variant == "paper" else -1.0
    return terms["contrastive"] + sign * ib_weight * terms["ib"]


def adaptive_loss_weights(grad_norm: float | Tensor, alpha: float = 10.0, beta: float = 0.1) -> tuple[float, float]:
    """Return (lambda_CE, lambda_SC) = (alpha * g / (g + 1), beta / (g + 1)) as Python floats.

    ``g`` is the global gradient norm, detached (a scalar tensor or a number); it must be finite or +inf and
    non-negative. g = 0 gives (0, beta); g -> inf gives (alpha, 0). The defaults alpha = 10, beta = 0.1 are the
    released code's fixed weights (an inference: the paper's values were not found).
    """
    if isinstance(grad_norm, Tensor):
        if grad_norm.numel() != 1:
            raise ValueError(f"grad_norm must be a scalar, got shape {tuple(grad_norm.shape)}")
        grad_norm = grad_norm.detach().item()
    g = float(grad_norm)
    if math.isnan(g) or g < 0:
        raise ValueError(f"grad_norm must be non-negative, got {g}")
    if math.isinf(g):
        return float(alpha), 0.0
    return float(alpha * g / (g + 1.0)), float(beta / (g + 1.0))
