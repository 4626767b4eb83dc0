"""Exact checks of the losses and optimizers against hand computations."""

import math

import pytest
import torch
import torch.nn.functional as F

from hdfbench.losses import (
    GroupDRO,
    class_balanced_weights,
    cvar_loss,
    focal_loss,
    ldam_loss,
    ldam_margins,
    logit_adjusted_loss,
)
from hdfbench.optim import SAM

LOGITS = torch.tensor([[2.0, 0.5, -1.0], [0.1, 0.2, 0.3], [-1.0, 3.0, 0.0], [0.0, 0.0, 0.0]])
TARGETS = torch.tensor([0, 2, 1, 1])


def test_focal_with_gamma_zero_is_cross_entropy():
    assert focal_loss(LOGITS, TARGETS, gamma=0.0) == pytest.approx(float(F.cross_entropy(LOGITS, TARGETS)))
    alpha = torch.tensor([1.0, 2.0, 0.5])
    assert focal_loss(LOGITS, TARGETS, gamma=0.0, alpha=alpha) == pytest.approx(
        float(F.cross_entropy(LOGITS, TARGETS, weight=alpha)))


def test_focal_by_hand():
    p = F.softmax(LOGITS, -1)[torch.arange(4), TARGETS]
    expected = float((-(1 - p) ** 2 * p.log()).mean())
    assert focal_loss(LOGITS, TARGETS, gamma=2.0) == pytest.approx(expected)
    assert focal_loss(LOGITS, TARGETS, gamma=2.0, reduction="none").shape == (4,)


def test_groupdro_q_update_by_hand():
    dro = GroupDRO(3, eta=0.5)
    losses = torch.tensor([1.0, 3.0, 2.0, 4.0])
    groups = torch.tensor([0, 0, 1, 1])  # group 2 is absent from the batch
    robust = dro(losses, groups)
    g = [2.0, 3.0, 0.0]
    q = [math.exp(0.5 * x) / 3 for x in g]
    q = [x / sum(q) for x in q]
    assert dro.q.tolist() == pytest.approx(q)
    assert float(robust) == pytest.approx(sum(a * b for a, b in zip(q, g)))
    assert "q" in dict(dro.named_buffers())
    frozen = dro.q.clone()
    dro(losses, groups, update=False)
    assert torch.equal(dro.q, frozen)


def test_groupdro_adjustment_and_normalisation():
    dro = GroupDRO(2, eta=1.0, adjustment=2.0, group_counts=[4, 16], normalize_loss=True)
    dro(torch.tensor([1.0, 1.0]), torch.tensor([0, 1]))
    adjusted = [1.0 + 2.0 / 2, 1.0 + 2.0 / 4]
    adjusted = [x / sum(adjusted) for x in adjusted]
    q = [math.exp(x) for x in adjusted]
    assert dro.q.tolist() == pytest.approx([x / sum(q) for x in q])


def test_cvar_is_the_mean_of_the_worst_fraction():
    losses = torch.tensor([0.1, 5.0, 2.0, 3.0, 0.5])
    assert float(cvar_loss(losses, 0.4)) == pytest.approx(4.0)
    assert float(cvar_loss(losses, 1.0)) == pytest.approx(float(losses.mean()))


def test_imbalance_losses_by_hand():
    w = class_balanced_weights([10, 5, 0])
    assert w.tolist() == pytest.approx([2 / 3, 4 / 3, 0.0])
    log_prior = torch.tensor([0.5, 0.3, 0.2]).log()
    assert float(logit_adjusted_loss(LOGITS, TARGETS, log_prior)) == pytest.approx(
        float(F.cross_entropy(LOGITS + log_prior, TARGETS)))
    margins = ldam_margins([100, 10, 1], max_margin=0.5)
    assert margins.tolist() == pytest.approx([0.5 * 100 ** -0.25, 0.5 * 10 ** -0.25, 0.5])
    shifted = LOGITS.clone()
    shifted[torch.arange(4), TARGETS] -= margins[TARGETS]
    assert float(ldam_loss(LOGITS, TARGETS, margins, scale=2.0)) == pytest.approx(
        float(F.cross_entropy(2.0 * shifted, TARGETS)))


def test_sam_perturbation_and_exact_restore_by_hand():
    torch.manual_seed(0)
    model = torch.nn.Linear(3, 1, bias=False)
    w0 = model.weight.detach().clone()
    x, y = torch.randn(5, 3), torch.randn(5, 1)
    opt = SAM(model.parameters(), torch.optim.SGD, rho=0.1, lr=0.5)

    F.mse_loss(model(x), y).backward()
    g = model.weight.grad.detach().clone()
    norm = opt.first_step(zero_grad=True)
    assert norm == pytest.approx(float(g.norm()))
    assert torch.allclose(model.weight, w0 + 0.1 * g / g.norm(), atol=1e-6)

    F.mse_loss(model(x), y).backward()
    g_adv = model.weight.grad.detach().clone()
    opt.second_step(zero_grad=True)
    assert torch.allclose(model.weight, w0 - 0.5 * g_adv, atol=1e-6)  # restored exactly, then SGD step at w+ε


def test_asam_scales_the_perturbation_by_the_weights():
    model = torch.nn.Linear(2, 1, bias=False)
    with torch.no_grad():
        model.weight.copy_(torch.tensor([[2.0, -0.5]]))
    opt = SAM(model.parameters(), torch.optim.SGD, rho=1.0, adaptive=True, lr=0.1)
    model.weight.grad = torch.tensor([[1.0, 4.0]])
    opt.first_step()
    w, g = torch.tensor([2.0, -0.5]), torch.tensor([1.0, 4.0])
    expected = w + w**2 * g / (w.abs() * g).norm()
    assert torch.allclose(model.weight[0], expected, atol=1e-6)


def test_sam_state_dict_round_trip_and_shared_lr():
    model = torch.nn.Linear(2, 1)
    opt = SAM(model.parameters(), torch.optim.AdamW, rho=0.05, lr=1e-2)
    model(torch.randn(4, 2)).sum().backward()
    opt.first_step(zero_grad=True)
    model(torch.randn(4, 2)).sum().backward()
    opt.second_step(zero_grad=True)
    state = opt.state_dict()
    other = SAM(torch.nn.Linear(2, 1).parameters(), torch.optim.AdamW, rho=0.5, lr=1e-2)
    other.load_state_dict(state)
    assert other.param_groups[0]["rho"] == 0.05
    assert other.base_optimizer.state_dict()["state"][0]["step"] == 1
    opt.param_groups[0]["lr"] = 0.123
    assert opt.base_optimizer.param_groups[0]["lr"] == 0.123
