"""Tests of the DSM loss (paper and released variants) against loop-based references, and of the adaptive weights."""

from __future__ import annotations

import math

import pytest
import torch

from hdfbench.losses.dsm import RELEASED_FIXED_WEIGHTS, adaptive_loss_weights, dsm_loss, dsm_terms

LABELS = [0, 0, 0, 1, 1, 2]  # class 2 has a single member: that anchor has no positive


def _batch(seed: int = 0, n: int = 6, d: int = 5) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    feats = torch.randn(n, d, generator=g, dtype=torch.float64)
    labels = torch.tensor(LABELS if n == len(LABELS) else [i % 3 for i in range(n)])
    return feats, labels


def _unit_rows(feats: torch.Tensor) -> list[list[float]]:
    rows = feats.tolist()
    return [[v / math.sqrt(sum(u * u for u in row)) for v in row] for row in rows]


def _cos(z: list[list[float]], i: int, j: int) -> float:
    return sum(a * b for a, b in zip(z[i], z[j]))


def _trace_cov(z: list[list[float]], denom: float) -> float:
    n, d = len(z), len(z[0])
    mean = [sum(z[i][k] for i in range(n)) / n for k in range(d)]
    return sum((z[i][k] - mean[k]) ** 2 for i in range(n) for k in range(d)) / denom


def _paper_reference(feats, labels, tau, eta, weight_on):
    """Return (contrastive, ib) computed literally from the figure's equations, anchors without positive skipped."""
    z, y = _unit_rows(feats), labels.tolist()
    n = len(z)
    per_anchor = []
    for i in range(n):
        positives = [p for p in range(n) if p != i and y[p] == y[i]]
        if not positives:
            continue
        den = 0.0
        for a in range(n):
            if a == i:
                continue
            s = _cos(z, i, a) / tau
            x = _cos(z, i, a) if weight_on == "cosine" else s
            den += math.exp(-((x - eta) ** 2) / (2 * eta**2)) * math.exp(s)
        per_anchor.append(-sum(math.log(math.exp(_cos(z, i, p) / tau) / den) for p in positives) / len(positives))
    contrastive = sum(per_anchor) / len(per_anchor) if per_anchor else 0.0
    return contrastive, _trace_cov(z, n)


def _released_reference(feats, labels, tau, eta):
    """Return (contrastive, ib) following the released code step by step (M = same label, i != j)."""
    z, y = _unit_rows(feats), labels.tolist()
    n, d = len(z), len(z[0])
    total = 0.0
    for i in range(n):
        logits = [_cos(z, i, j) / tau for j in range(n)]
        row_max = max(logits)
        logits = [v - row_max for v in logits]
        omega = [math.exp(-0.5 * ((v - eta) / eta) ** 2) for v in logits]
        w_hat = [o / sum(omega) for o in omega]
        log_norm = math.log(sum(math.exp(v) for v in logits))
        mask = [1.0 if (j != i and y[j] == y[i]) else 0.0 for j in range(n)]
        num = sum(mask[j] * w_hat[j] * (logits[j] - log_norm) for j in range(n))
        total += -num / max(sum(mask), 1e-8)
    return total / n, _trace_cov(z, n - 1) + d * 1e-6


@pytest.mark.parametrize("weight_on", ["cosine", "logit"])
@pytest.mark.parametrize("tau,eta", [(0.07, 0.2), (0.5, 0.3), (1.0, 1.0), (0.2, 5.0)])
@pytest.mark.parametrize("seed", [0, 1])
def test_paper_matches_loop_reference(weight_on, tau, eta, seed):
    feats, labels = _batch(seed)
    terms = dsm_terms(feats, labels, variant="paper", temperature=tau, eta=eta, weight_on=weight_on)
    ref_con, ref_ib = _paper_reference(feats, labels, tau, eta, weight_on)
    assert terms["contrastive"].item() == pytest.approx(ref_con, rel=1e-9, abs=1e-12)
    assert terms["ib"].item() == pytest.approx(ref_ib, rel=1e-9)
    loss = dsm_loss(feats, labels, variant="paper", temperature=tau, eta=eta, ib_weight=0.3, weight_on=weight_on)
    assert loss.item() == pytest.approx(ref_con + 0.3 * ref_ib, rel=1e-9)


def test_paper_weight_on_matters():
    feats, labels = _batch(0)
    a = dsm_loss(feats, labels, weight_on="cosine")
    b = dsm_loss(feats, labels, weight_on="logit")
    assert abs(a.item() - b.item()) > 1e-3


@pytest.mark.parametrize("tau,eta", [(0.07, 0.2), (0.5, 0.3), (1.0, 0.5), (2.0, 1.0)])
@pytest.mark.parametrize("seed", [0, 1])
def test_released_matches_loop_reference(tau, eta, seed):
    feats, labels = _batch(seed)
    terms = dsm_terms(feats, labels, variant="released", temperature=tau, eta=eta)
    ref_con, ref_ib = _released_reference(feats, labels, tau, eta)
    assert terms["contrastive"].item() == pytest.approx(ref_con, rel=1e-9, abs=1e-15)
    assert terms["ib"].item() == pytest.approx(ref_ib, rel=1e-9)
    loss = dsm_loss(feats, labels, variant="released", temperature=tau, eta=eta, ib_weight=0.5)
    assert loss.item() == pytest.approx(ref_con - 0.5 * ref_ib, rel=1e-9)
    if tau >= 1.0:  # off-diagonal weights are not negligible here, so the contrastive check has teeth
        assert ref_con > 1e-3


def test_anchors_without_positive_are_excluded():
    feats, labels = _batch(3)
    z, y = _unit_rows(feats), labels.tolist()
    con = dsm_terms(feats, labels, temperature=0.5, eta=0.3)["contrastive"].item()
    ref, _ = _paper_reference(feats, labels, 0.5, 0.3, "cosine")
    assert con == pytest.approx(ref, rel=1e-9)
    # mean over the 5 anchors that have a positive, not over all 6
    assert con != pytest.approx(ref * 5 / 6, rel=1e-3)
    assert sum(1 for i in range(len(y)) if y.count(y[i]) > 1) == 5 and len(z) == 6


@pytest.mark.parametrize("variant", ["paper", "released"])
def test_all_distinct_labels_give_zero_contrastive(variant):
    feats, _ = _batch(0)
    feats = feats.clone().requires_grad_(True)
    labels = torch.arange(6)
    terms = dsm_terms(feats, labels, variant=variant)
    assert terms["contrastive"].item() == 0.0
    loss = dsm_loss(feats, labels, variant=variant)
    assert torch.isfinite(loss)
    loss.backward()
    assert torch.isfinite(feats.grad).all()


def test_single_sample_paper_is_zero_and_released_rejects():
    feats = torch.randn(1, 5, requires_grad=True)
    loss = dsm_loss(feats, torch.tensor([0]))
    assert loss.item() == 0.0
    loss.backward()
    assert torch.isfinite(feats.grad).all()
    with pytest.raises(ValueError):
        dsm_loss(feats, torch.tensor([0]), variant="released")


@pytest.mark.parametrize("variant,weight_on", [("paper", "cosine"), ("paper", "logit"), ("released", "cosine")])
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_gradients_finite_and_flowing(variant, weight_on, dtype):
    feats, labels = _batch(1, n=16, d=8)
    feats = feats.to(dtype).requires_grad_(True)
    loss = dsm_loss(feats, labels, variant=variant, weight_on=weight_on, temperature=0.05)
    loss.backward()
    assert torch.isfinite(loss) and torch.isfinite(feats.grad).all()
    assert feats.grad.abs().sum() > 0


@pytest.mark.parametrize("variant", ["paper", "released"])
def test_contrastive_gradient_flows_alone(variant):
    feats, labels = _batch(2)
    feats.requires_grad_(True)
    dsm_terms(feats, labels, variant=variant, temperature=1.0, eta=0.5)["contrastive"].backward()
    assert feats.grad.abs().sum() > 1e-6


@pytest.mark.parametrize("variant,weight_on", [("paper", "cosine"), ("paper", "logit"), ("released", "cosine")])
def test_scale_and_permutation_invariance(variant, weight_on):
    feats, labels = _batch(4, n=12, d=7)
    kwargs = dict(variant=variant, weight_on=weight_on, temperature=0.3, eta=0.4)
    base = dsm_loss(feats, labels, **kwargs).item()
    assert dsm_loss(3.7 * feats, labels, **kwargs).item() == pytest.approx(base, rel=1e-10)
    assert dsm_loss(0.01 * feats, labels, **kwargs).item() == pytest.approx(base, rel=1e-10)
    perm = torch.randperm(12, generator=torch.Generator().manual_seed(5))
    assert dsm_loss(feats[perm], labels[perm], **kwargs).item() == pytest.approx(base, rel=1e-10)
    # permuting the labels alone does change it (the test can fail)
    assert dsm_loss(feats, labels[perm], **kwargs).item() != pytest.approx(base, rel=1e-6)


def test_ib_terms():
    feats, labels = _batch(6, n=10, d=4)
    z = torch.nn.functional.normalize(feats, dim=1)
    n, d = z.shape
    one_minus = 1.0 - z.mean(dim=0).pow(2).sum().item()
    paper_ib = dsm_terms(feats, labels, variant="paper")["ib"].item()
    assert paper_ib == pytest.approx(torch.trace(torch.cov(z.T, correction=0)).item(), rel=1e-10)
    assert paper_ib == pytest.approx(one_minus, rel=1e-10)
    released_ib = dsm_terms(feats, labels, variant="released")["ib"].item()
    assert released_ib == pytest.approx(n / (n - 1) * one_minus + d * 1e-6, rel=1e-10)
    assert released_ib == pytest.approx(torch.trace(torch.cov(z.T) + 1e-6 * torch.eye(d, dtype=z.dtype)).item())


def test_ib_weight_sign():
    feats, labels = _batch(0)
    for variant, sign in (("paper", 1.0), ("released", -1.0)):
        t = dsm_terms(feats, labels, variant=variant)
        loss = dsm_loss(feats, labels, variant=variant, ib_weight=0.7)
        assert loss.item() == pytest.approx(t["contrastive"].item() + sign * 0.7 * t["ib"].item(), rel=1e-12)
        assert dsm_loss(feats, labels, variant=variant, ib_weight=0.0).item() == pytest.approx(
            t["contrastive"].item(), rel=1e-12
        )


def test_input_validation():
    feats, labels = _batch(0)
    with pytest.raises(ValueError):
        dsm_loss(feats, labels[:5])
    with pytest.raises(ValueError):
        dsm_loss(feats[None], labels)
    with pytest.raises(ValueError):
        dsm_loss(feats, labels, variant="other")
    with pytest.raises(ValueError):
        dsm_loss(feats, labels, weight_on="raw")
    with pytest.raises(ValueError):
        dsm_loss(feats, labels, temperature=0.0)


def test_adaptive_loss_weights():
    alpha, beta = 10.0, 0.1
    assert adaptive_loss_weights(0.0) == (0.0, beta)
    assert adaptive_loss_weights(1.0) == pytest.approx((alpha / 2, beta / 2))
    assert adaptive_loss_weights(float("inf")) == (alpha, 0.0)
    big = adaptive_loss_weights(1e12)
    assert big[0] == pytest.approx(alpha) and big[1] == pytest.approx(0.0, abs=1e-12)
    assert adaptive_loss_weights(3.0, alpha=2.0, beta=4.0) == pytest.approx((1.5, 1.0))
    assert RELEASED_FIXED_WEIGHTS == (alpha, beta)


def test_adaptive_loss_weights_accepts_tensors():
    w = torch.tensor([3.0, 4.0], requires_grad=True)
    g = w.norm()  # 5.0, carries a graph
    lam_ce, lam_sc = adaptive_loss_weights(g)
    assert type(lam_ce) is float and type(lam_sc) is float
    assert (lam_ce, lam_sc) == pytest.approx((10.0 * 5 / 6, 0.1 / 6))
    assert w.grad is None
    with pytest.raises(ValueError):
        adaptive_loss_weights(-1.0)
    with pytest.raises(ValueError):
        adaptive_loss_weights(torch.tensor([1.0, 2.0]))
    with pytest.raises(ValueError):
        adaptive_loss_weights(float("nan"))
