"""Exact checks of the losses and optimizers against hand computations."""

import copy
import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from hdfbench.losses import (
    GroupDRO,
    chi_square_dro_loss,
    chi_square_weights,
    class_balanced_weights,
    cvar_loss,
    focal_loss,
    ldam_loss,
    ldam_margins,
    logit_adjusted_loss,
    logit_adjustments,
)
from hdfbench.optim import SAM

LOGITS = torch.tensor([[2.0, 0.5, -1.0], [0.1, 0.2, 0.3], [-1.0, 3.0, 0.0], [0.0, 0.0, 0.0]])
TARGETS = torch.tensor([0, 2, 1, 1])


def test_focal_with_gamma_zero_is_cross_entropy():
    assert focal_loss(LOGITS, TARGETS, gamma=0.0) == pytest.approx(float(F.cross_entropy(LOGITS, TARGETS)))
    alpha = torch.tensor([1.0, 2.0, 0.5])
    assert focal_loss(LOGITS, TARGETS, gamma=0.0, alpha=alpha) == pytest.approx(
        float(F.cross_entropy(LOGITS, TARGETS, weight=alpha))
    )


def test_focal_by_hand():
    p = F.softmax(LOGITS, -1)[torch.arange(4), TARGETS]
    expected = float((-((1 - p) ** 2) * p.log()).mean())
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
    margins = ldam_margins([100, 10, 1], max_margin=0.5)
    assert margins.tolist() == pytest.approx([0.5 * 100**-0.25, 0.5 * 10**-0.25, 0.5])
    shifted = LOGITS.clone()
    shifted[torch.arange(4), TARGETS] -= margins[TARGETS]
    assert float(ldam_loss(LOGITS, TARGETS, margins, scale=2.0)) == pytest.approx(
        float(F.cross_entropy(2.0 * shifted, TARGETS))
    )


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


def _reference_groupdro_q(steps, n_groups, eta, adjustment, counts):
    """Sagawa et al.'s LossComputer update, re-derived in numpy: C/√n_g is added to every group."""
    q = np.full(n_groups, 1.0 / n_groups)
    for losses, groups in steps:
        group_loss = np.array([losses[groups == g].mean() if (groups == g).any() else 0.0 for g in range(n_groups)])
        q = q * np.exp(eta * (group_loss + adjustment / np.sqrt(counts)))
        q = q / q.sum()
    return q


def test_groupdro_adjustment_reaches_groups_absent_from_the_batch():
    dro = GroupDRO(2, eta=1.0, adjustment=1.0, group_counts=[1, 1])
    dro(torch.tensor([1.0]), torch.tensor([0]))
    assert dro.q.tolist() == pytest.approx([0.7311, 0.2689], abs=1e-4)  # not [0.8808, 0.1192]
    assert dro.adjustment_term() == pytest.approx(1.0)  # Σ q·C/√n with n = 1

    rng = np.random.default_rng(0)
    counts = np.array([40.0, 9.0, 3.0, 1.0])
    dro = GroupDRO(4, eta=0.3, adjustment=2.0, group_counts=counts.tolist())
    steps = []
    for _ in range(30):
        groups = rng.choice(3, size=6)  # group 3 never appears, group 2 only sometimes
        losses = rng.exponential(1.0, size=6)
        steps.append((losses, groups))
        robust = dro(torch.tensor(losses, dtype=torch.float32), torch.tensor(groups))
    reference = _reference_groupdro_q(steps, 4, 0.3, 2.0, counts)
    assert dro.q.double().numpy() == pytest.approx(reference, abs=1e-6)
    group_loss = [losses[groups == g].mean() if (groups == g).any() else 0.0 for g in range(4)]
    assert float(robust) == pytest.approx(float(reference @ group_loss), rel=1e-5)
    assert dro.adjustment_term() == pytest.approx(float(reference @ (2.0 / np.sqrt(counts))), rel=1e-5)


def _cvar_by_rockafellar_uryasev(losses: np.ndarray, alpha: float) -> float:
    """min over η of η + E[(l − η)+]/α; the minimum of this piecewise-linear function is at a loss value."""
    return min(eta + np.maximum(losses - eta, 0).mean() / alpha for eta in losses)


def test_cvar_with_fractional_alpha_n_is_exact():
    assert float(cvar_loss(torch.tensor([4.0, 3.0, 2.0, 1.0, 0.0]), 0.3)) == pytest.approx(11 / 3)  # not 3.5
    rng = np.random.default_rng(1)
    for n in (1, 5, 16, 33):
        for alpha in (0.01, 0.1, 0.3, 0.3125, 0.5, 0.77, 1.0):
            losses = rng.exponential(1.0, size=n)
            expected = _cvar_by_rockafellar_uryasev(losses, alpha)
            assert float(cvar_loss(torch.tensor(losses), alpha)) == pytest.approx(expected, rel=1e-9, abs=1e-12)


def test_cvar_gradient_weights_sum_to_one():
    losses = torch.tensor([4.0, 3.0, 2.0, 1.0, 0.0], requires_grad=True)
    cvar_loss(losses, 0.3).backward()
    assert losses.grad.tolist() == pytest.approx([1 / 1.5, 0.5 / 1.5, 0.0, 0.0, 0.0])


def test_logit_adjustment_offsets_follow_the_reference_with_an_absent_class():
    counts = [10, 0, 5]
    for tau in (1.0, 0.5, 2.0):
        prior = np.array(counts, dtype=np.float64) / 15
        reference = np.log(prior**tau + 1e-12)  # Menon et al.'s base_probs**tau + 1e-12
        assert logit_adjustments(counts, tau).double().numpy() == pytest.approx(reference, rel=1e-6)
    assert float(logit_adjustments(counts)[1]) == pytest.approx(-27.631, abs=1e-3)  # not log(1/16) = −2.77
    offsets = logit_adjustments([5, 3, 2])
    assert float(logit_adjusted_loss(LOGITS, TARGETS, offsets)) == pytest.approx(
        float(F.cross_entropy(LOGITS + torch.tensor([0.5, 0.3, 0.2]).log(), TARGETS)), rel=1e-6
    )


def test_effective_number_weights_by_hand():
    beta, counts = 0.99, [100, 10, 1]
    raw = [(1 - beta) / (1 - beta**n) for n in counts]
    assert class_balanced_weights(counts, beta).tolist() == pytest.approx([3 * r / sum(raw) for r in raw], rel=1e-6)
    inverse = [1 / n for n in counts]
    assert class_balanced_weights(counts).tolist() == pytest.approx([3 * r / sum(inverse) for r in inverse], rel=1e-6)


def _chi_square_brute_force(losses: np.ndarray, rho: float) -> np.ndarray:
    """Maximise p·ℓ over the χ² ball numerically (SLSQP from several starts): an independent maximiser."""
    from scipy.optimize import minimize

    m = len(losses)
    constraints = [
        {"type": "eq", "fun": lambda p: p.sum() - 1},
        {"type": "ineq", "fun": lambda p: rho - 0.5 * np.mean((m * p - 1) ** 2)},
    ]
    starts = np.random.default_rng(0).dirichlet(np.ones(m), size=5)
    results = [
        minimize(
            lambda p: -p @ losses,
            start,
            jac=lambda p: -losses,
            bounds=[(0, 1)] * m,
            constraints=constraints,
            method="SLSQP",
            options={"ftol": 1e-15, "maxiter": 1000},
        )
        for start in starts
    ]
    return min(results, key=lambda r: r.fun).x


def test_chi_square_weights_equal_a_brute_force_maximiser():
    rng = np.random.default_rng(2)
    for _ in range(25):
        m, rho = int(rng.integers(2, 9)), float(rng.choice([0.05, 0.2, 0.5, 1.0, 3.0]))
        losses = rng.exponential(1.0, size=m)
        weights = chi_square_weights(torch.tensor(losses), rho).numpy()
        assert weights == pytest.approx(_chi_square_brute_force(losses, rho), abs=1e-6)
        assert 0.5 * np.mean((m * weights - 1) ** 2) <= rho + 1e-12


def _chi_square_by_its_dual(losses: np.ndarray, rho: float) -> float:
    """fast-dro's dual of the constrained χ² set: min over η of η + √((1 + 2ρ)/m)·‖(ℓ − η)₊‖₂."""
    from scipy.optimize import minimize_scalar

    scale = np.sqrt((1 + 2 * rho) / len(losses))
    dual = minimize_scalar(
        lambda eta: eta + scale * np.linalg.norm(np.maximum(losses - eta, 0)),
        bounds=(losses.min() - 50, losses.max()),
        method="bounded",
        options={"xatol": 1e-12},
    )
    return float(dual.fun)


def test_chi_square_value_equals_fast_dros_dual_and_corners():
    rng = np.random.default_rng(3)
    for m, rho in ((16, 1.0), (16, 0.1), (33, 2.0)):
        losses = rng.exponential(1.0, size=m)
        expected = _chi_square_by_its_dual(losses, rho)
        assert float(chi_square_dro_loss(torch.tensor(losses), rho)) == pytest.approx(expected, rel=1e-7)
    losses = torch.tensor([0.5, 2.0, 1.0, 2.0])
    assert chi_square_weights(losses, 0.0).tolist() == pytest.approx([0.25] * 4)  # ρ = 0 is ERM
    assert chi_square_weights(losses, 1.5).tolist() == pytest.approx([0.0, 0.5, 0.0, 0.5])  # ties of the max
    assert chi_square_weights(torch.ones(5), 1.0).tolist() == pytest.approx([0.2] * 5)
    leaf = torch.tensor([0.5, 2.0, 1.0, 3.0], requires_grad=True)
    chi_square_dro_loss(leaf, 0.3).backward()
    assert leaf.grad.tolist() == pytest.approx(chi_square_weights(leaf, 0.3).tolist())  # weights held constant


def test_group_reweight_weights_follow_subpopbench():
    from hdfbench.strategies.group_reweight import group_weights

    counts = [30, 10, 0, 5]
    sizes = np.array([c if c else np.inf for c in counts], dtype=float)
    reference = (1 / sizes) / (1 / sizes).sum() * len(sizes)  # SubpopBench's ReWeight
    assert group_weights(counts).double().numpy() == pytest.approx(reference, rel=1e-6)
    root = (1 / np.sqrt(sizes)) / (1 / np.sqrt(sizes)).sum() * len(sizes)  # its SqrtReWeight
    assert group_weights(counts, power=0.5).double().numpy() == pytest.approx(root, rel=1e-6)


def test_group_reweight_loss_is_the_mean_of_group_weighted_losses():
    from hdfbench.strategies import STRATEGIES
    from hdfbench.testing.contract import TASK, learnable_batches, make

    strategy = make(STRATEGIES.get("group_reweight"), {"groups": "class*source"})
    batch = learnable_batches(1)[0]
    logits, features = strategy.model_outputs(batch.clips)
    losses = F.cross_entropy(logits, batch.labels, reduction="none").detach()
    counts = np.array(TASK.group_counts["class*source"], dtype=float)  # SubpopBench: 1/n_g, Σ_g w_g = G
    weights = (1 / counts) / (1 / counts).sum() * len(counts)
    groups = (batch.labels * 2 + batch.groups["source"]).numpy()
    expected = float((torch.tensor(weights[groups], dtype=torch.float32) * losses).mean())
    assert float(strategy.compute_loss(logits, features, batch)[0].detach()) == pytest.approx(expected, rel=1e-6)


def _reference_sam_first_step(groups, adaptive: bool) -> tuple[float, list[list[torch.Tensor]]]:
    """The per-parameter SAM ascent (davda54/sam's loop) over ``groups`` of (parameters, ρ): return the global
    ‖g‖ and each group's saved weights, after moving each parameter with a gradient to w + ε in place."""
    with torch.no_grad():
        live = [([p for p in params if p.grad is not None], rho) for params, rho in groups]
        norm = torch.stack([((p.abs() if adaptive else 1.0) * p.grad).norm(2) for ps, _ in live for p in ps]).norm(2)
        saved = []
        for params, rho in live:
            saved.append([p.detach().clone() for p in params])
            for p in params:
                p.add_(
                    (p.abs() if adaptive else 1.0) * p.grad * (p.abs() if adaptive else 1.0) * (rho / (norm + 1e-12))
                )
    return float(norm), saved


@pytest.mark.parametrize("adaptive", [False, True])
def test_foreach_sam_equals_the_per_parameter_loop_bit_for_bit(adaptive):
    """SAM's vectorised ascent and restore give the same bits as the per-parameter loop, over several AdamW
    steps, with two parameter groups of their own ρ and a parameter that has no gradient."""
    torch.manual_seed(0)
    net = torch.nn.Sequential(torch.nn.Linear(6, 5), torch.nn.ReLU(), torch.nn.Linear(5, 3), torch.nn.Linear(2, 2))
    twin = copy.deepcopy(net)

    def groups(m):  # two groups with their own ρ, as a classifier multiplier gives
        return [
            {"params": list(m[0].parameters()), "rho": 0.05},
            {"params": [*m[2].parameters(), *m[3].parameters()], "rho": 0.2},
        ]

    opt = SAM(groups(net), torch.optim.AdamW, rho=0.05, adaptive=adaptive, lr=1e-2)
    base = torch.optim.AdamW(groups(twin), lr=1e-2)
    for step in range(4):
        x, y = torch.randn(8, 6), torch.randint(0, 3, (8,))
        for model in (net, twin):
            F.cross_entropy(model[:3](x), y).backward()  # m[3] gets no gradient
        norm = opt.first_step(zero_grad=True)
        want_norm, saved = _reference_sam_first_step([(g["params"], g["rho"]) for g in base.param_groups], adaptive)
        base.zero_grad(set_to_none=True)
        assert norm == want_norm, f"norm, step {step}"
        assert all(torch.equal(a, b) for a, b in zip(net.parameters(), twin.parameters())), f"ascent, step {step}"
        for model in (net, twin):
            F.cross_entropy(model[:3](x * 0.5), y).backward()
        with torch.no_grad():
            for group, old in zip(base.param_groups, saved):
                for p, w in zip([p for p in group["params"] if p.grad is not None], old):
                    p.copy_(w)
        opt.second_step(zero_grad=True)
        base.step()
        base.zero_grad(set_to_none=True)
        assert all(torch.equal(a, b) for a, b in zip(net.parameters(), twin.parameters())), f"update, step {step}"
