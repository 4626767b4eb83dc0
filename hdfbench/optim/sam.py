"""Sharpness-Aware Minimization (Foret et al., ICLR 2021) and ASAM (Kwon et al., ICML 2021).

Two passes per step: ``first_step`` moves the weights to w + ε, ε = ρ·g/‖g‖ (ASAM:
ε = ρ·w²⊙g/‖w⊙g‖), after which the caller recomputes the loss and its gradient there;
``second_step`` restores w exactly and lets the base optimizer step with that gradient. The
parameter groups are the base optimizer's, so learning-rate schedules act on both alike.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import cast

import torch


def global_norm(tensors: list[torch.Tensor]) -> torch.Tensor:
    """Return the L2 norm of all ``tensors`` taken together (the norm of their norms; 0 for none)."""
    if not tensors:
        return torch.tensor(0.0)
    return torch.linalg.vector_norm(torch.stack(torch._foreach_norm(tensors)))


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
        self._saved: list[tuple[list[torch.Tensor], list[torch.Tensor]]] = []  # (w, saved w) per group

    def _scaled_groups(self) -> list[tuple[dict, list[torch.Tensor], list[torch.Tensor]]]:
        """Return each parameter group with its parameters that have a gradient and those gradients, ASAM:
        multiplied by |w| (groups without any gradient left out)."""
        out = []
        for group in self.param_groups:
            params = [p for p in group["params"] if p.grad is not None]
            if not params:
                continue
            grads = [cast(torch.Tensor, p.grad) for p in params]
            if group["adaptive"]:
                grads = list(torch._foreach_mul(torch._foreach_abs(params), grads))
            out.append((group, params, grads))
        return out

    @torch.no_grad()
    def grad_norm(self) -> torch.Tensor:
        """Return the global L2 norm of the (ASAM: weight-scaled) gradients."""
        return global_norm([g for _, _, scaled in self._scaled_groups() for g in scaled])

    @torch.no_grad()
    def first_step(self, zero_grad: bool = False) -> float:
        """Move to w + ε; return the gradient norm ‖g‖ used (also kept in ``last_grad_norm``).

        The update runs as one ``torch._foreach_*`` call per operation and parameter group; w is saved into a
        buffer per parameter that is kept between steps (``state[p]["old_p"]``)."""
        groups = self._scaled_groups()  # scaled once: the norm and ε use the same tensors
        norm = global_norm([g for _, _, scaled in groups for g in scaled])
        self._saved = []
        for group, params, e_w in groups:
            if group["adaptive"]:
                e_w = list(torch._foreach_mul(e_w, torch._foreach_abs(params)))
            e_w = list(torch._foreach_mul(e_w, group["rho"] / (norm + 1e-12)))
            saved = [self._buffer(p) for p in params]
            torch._foreach_copy_(saved, params)
            torch._foreach_add_(params, e_w)
            self._saved.append((params, saved))
        if zero_grad:
            self.zero_grad(set_to_none=True)
        self.last_grad_norm = float(norm)
        return self.last_grad_norm

    def _buffer(self, p: torch.Tensor) -> torch.Tensor:
        """Return the buffer that holds w during the perturbed pass (made on first use)."""
        state = self.state[p]
        if "old_p" not in state:
            state["old_p"] = torch.empty_like(p, memory_format=torch.preserve_format)
        return state["old_p"]

    @torch.no_grad()
    def second_step(self, zero_grad: bool = False) -> None:
        """Restore w exactly and take the base optimizer's step with the gradient at w + ε."""
        for params, saved in self._saved:
            torch._foreach_copy_(params, saved)
        self._saved = []
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
