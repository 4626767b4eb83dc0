"""Sharpness-Aware Minimization (Foret et al., ICLR 2021) and ASAM (Kwon et al., ICML 2021).

Two passes per step: ``first_step`` moves the weights to w + ε, ε = ρ·g/‖g‖ (ASAM:
ε = ρ·w²⊙g/‖w⊙g‖), after which the caller recomputes the loss and its gradient there;
``second_step`` restores w exactly and lets the base optimizer step with that gradient. The
parameter groups are the base optimizer's, so learning-rate schedules act on both alike.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

import torch


class SAM(torch.optim.Optimizer):
    """A SAM wrapper around ``base_optimizer`` (a class, built with ``base_kwargs``)."""

    def __init__(
        self,
        params: Iterable,
        base_optimizer: type[torch.optim.Optimizer],
        rho: float = 0.05,
        adaptive: bool = False,
        **base_kwargs,
    ):
        if rho < 0:
            raise ValueError(f"rho must be non-negative, got {rho}")
        super().__init__(params, dict(rho=rho, adaptive=adaptive, **base_kwargs))
        self.base_optimizer = base_optimizer(self.param_groups, **base_kwargs)
        self.param_groups = self.base_optimizer.param_groups
        self.defaults.update(self.base_optimizer.defaults)
        self.last_grad_norm: float | None = None

    def _scaled_grads(self) -> list[tuple[torch.Tensor, torch.Tensor, dict]]:
        return [
            (p, (p.abs() if group["adaptive"] else 1.0) * p.grad, group)
            for group in self.param_groups
            for p in group["params"]
            if p.grad is not None
        ]

    @torch.no_grad()
    def grad_norm(self) -> torch.Tensor:
        """Return the global L2 norm of the (ASAM: weight-scaled) gradients."""
        grads = [g.norm(2) for _, g, _ in self._scaled_grads()]
        return torch.stack(grads).norm(2) if grads else torch.tensor(0.0)

    @torch.no_grad()
    def first_step(self, zero_grad: bool = False) -> float:
        """Move to w + ε; return the gradient norm ‖g‖ used (also kept in ``last_grad_norm``)."""
        norm = self.grad_norm()
        for p, scaled, group in self._scaled_grads():
            e_w = scaled * (p.abs() if group["adaptive"] else 1.0) * (group["rho"] / (norm + 1e-12))
            self.state[p]["old_p"] = p.detach().clone()
            p.add_(e_w)
        if zero_grad:
            self.zero_grad(set_to_none=True)
        self.last_grad_norm = float(norm)
        return self.last_grad_norm

    @torch.no_grad()
    def second_step(self, zero_grad: bool = False) -> None:
        """Restore w exactly and take the base optimizer's step with the gradient at w + ε."""
        for group in self.param_groups:
            for p in group["params"]:
                old = self.state[p].pop("old_p", None)
                if old is not None:
                    p.copy_(old)
        self.base_optimizer.step()
        if zero_grad:
            self.zero_grad(set_to_none=True)

    def step(  # type: ignore[override]  # unlike torch's Optimizer.step: the closure is required, its loss not returned
        self, closure: Callable[[], torch.Tensor] | None = None
    ) -> None:
        """Full SAM step; ``closure`` must zero the grads, recompute the loss and call backward."""
        if closure is None:
            raise ValueError("SAM.step needs a closure that recomputes the loss and its gradient")
        self.first_step(zero_grad=True)
        torch.enable_grad()(closure)()
        self.second_step()

    def state_dict(self) -> dict:
        """Return the base optimizer's state with ρ and the ASAM flag."""
        return {
            "base": self.base_optimizer.state_dict(),
            "rho": [g["rho"] for g in self.param_groups],
            "adaptive": [g["adaptive"] for g in self.param_groups],
        }

    def load_state_dict(self, state_dict: dict) -> None:
        """Restore what ``state_dict`` returned."""
        self.base_optimizer.load_state_dict(state_dict["base"])
        for group, rho, adaptive in zip(self.param_groups, state_dict["rho"], state_dict["adaptive"]):
            group["rho"], group["adaptive"] = rho, adaptive
