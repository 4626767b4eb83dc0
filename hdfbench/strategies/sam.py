"""SAM-only: ERM trained with Sharpness-Aware Minimization (Foret et al., ICLR 2021).

Each step takes two forward/backward passes: the gradient at w gives the ascent ε = ρ·g/‖g‖, the
gradient at w + ε updates w. ``bn_second_pass`` says what BatchNorm does in the second pass:
``freeze`` keeps its running statistics (momentum 0, as davda54/sam advises), ``update`` lets
them move twice per step (as HDF's released trainer does). Stateful losses update their state in
the first pass only (``updating_state``).
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Literal, cast

from pydantic import Field
from torch import nn

from hdfbench.data.batch import Batch
from hdfbench.optim import SAM, optimizer_class, param_groups
from hdfbench.schema import StrictModel
from hdfbench.strategies.base import Strategy, register
from hdfbench.strategies.erm import ERM


@contextlib.contextmanager
def frozen_batchnorm(model: nn.Module, freeze: bool) -> Iterator[None]:
    """Within the block, BatchNorm running statistics stay fixed (momentum 0) if ``freeze``."""
    norms = [m for m in model.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)] if freeze else []
    saved = [m.momentum for m in norms]
    for m in norms:
        m.momentum = 0.0
    try:
        yield
    finally:
        for m, momentum in zip(norms, saved):
            m.momentum = momentum


def build_sam(strategy: Strategy, spec, rho: float, adaptive: bool) -> SAM:
    """Return a SAM optimizer around the configured base optimizer, over the strategy's parameters (in the
    groups of ``param_groups``, which the base optimizer shares)."""
    base, kwargs = optimizer_class(spec)
    return SAM(param_groups(strategy.named_parameters(), spec), base, rho=rho, adaptive=adaptive, **kwargs)


def sam_training_step(strategy: Strategy, batch: Batch, freeze_bn: bool) -> dict[str, float]:
    """Do one SAM step of ``strategy`` (whose optimizer is a ``SAM``); return the first pass's logs."""
    optimizer = cast(SAM, strategy.optimizer)  # what build_sam returned
    strategy.model.train()
    optimizer.zero_grad(set_to_none=True)
    loss, logs = strategy.forward_loss(batch)
    loss.backward()
    grad_norm = optimizer.first_step(zero_grad=True)
    strategy.updating_state = False
    try:
        with frozen_batchnorm(strategy.model, freeze_bn):
            perturbed, _ = strategy.forward_loss(batch)
        perturbed.backward()
    finally:
        strategy.updating_state = True
    optimizer.second_step(zero_grad=True)
    return {"loss": float(loss.detach()), "sam_loss": float(perturbed.detach()), "grad_norm": grad_norm, **logs}


class SAMHparams(StrictModel):
    """ρ is the radius of the ascent step; ``adaptive`` selects ASAM (use ρ ≈ 10× larger)."""

    rho: float = Field(0.05, ge=0)
    adaptive: bool = False
    bn_second_pass: Literal["update", "freeze"] = "freeze"
    label_smoothing: float = Field(0.0, ge=0, lt=1)


@register("sam")
class SAMOnly(ERM):
    """ERM's loss, minimised with SAM around the configured base optimizer."""

    Hparams = SAMHparams
    hparams: SAMHparams

    @staticmethod
    def search_space(trial) -> dict:
        return {"rho": trial.suggest_float("rho", 0.01, 0.5, log=True)}

    @classmethod
    def relative_cost(cls, hparams):
        return 2.0  # two forward-backward passes (benchmarks/step_cost.py: 2.0–2.1× ERM)

    def build_optimizer(self, spec):
        return build_sam(self, spec, self.hparams.rho, self.hparams.adaptive)

    def training_step(self, batch):
        return sam_training_step(self, batch, freeze_bn=self.hparams.bn_second_pass == "freeze")
