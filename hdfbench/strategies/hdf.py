"""HDF, the Heterogeneity-aware Distributional Framework (ACM MM 2025).

Three parts, each an ablation switch (docs/hdf.md lists every choice the sources leave open):

- **DAM** (``dam``): a time-frequency attention module after each of the four X3D stages.
- **DSM** (``dsm``): the distribution-robust supervised contrastive + information-bottleneck loss on
  the pooled features, added to label-smoothed cross-entropy with weights λ_CE, λ_SC:
  ``adaptive_scaling`` on gives λ_CE = α·g/(g+1), λ_SC = β/(g+1) from the gradient norm g;
  off gives the released code's fixed 10 and 0.1. ``dsm`` also takes the loss's settings
  (``{variant: paper|released, temperature, eta, ib_weight, weight_on, features}``).
- **SAM** (``sam``): ρ = 0.05 around the configured base optimizer (AdamW), both passes on the
  same loss; BatchNorm statistics move in both passes unless ``bn_second_pass: freeze``.

The gradient norm g that sets this step's λ is the first-pass norm of the previous step (1.0 at the
start), kept as a buffer so that resuming reproduces it; the loss weights are therefore fixed
within a step and g is updated once per step, never in SAM's second pass.
"""

from __future__ import annotations

from typing import Literal

import torch
import torch.nn.functional as F
from pydantic import Field, field_validator

from hdfbench.losses.dsm import RELEASED_FIXED_WEIGHTS, adaptive_loss_weights, combine_terms, dsm_terms
from hdfbench.models.dam import DAM
from hdfbench.optim import global_norm
from hdfbench.schema import StrictModel
from hdfbench.strategies.base import Strategy, register
from hdfbench.strategies.sam import build_sam, sam_training_step


class DSMSettings(StrictModel):
    """DSM on or off, its variant and constants, and the adaptive-scaling constants α, β."""

    enabled: bool = True
    variant: Literal["paper", "released"] = "paper"
    temperature: float = Field(default=0.07, gt=0)
    eta: float = Field(default=0.2, gt=0)
    ib_weight: float = Field(default=0.5, ge=0)
    weight_on: Literal["cosine", "logit"] = "cosine"
    features: Literal["after_dropout", "before_dropout"] = Field(
        default="after_dropout", description="where DSM reads the X3D head: its output, or its input to dropout"
    )

    LATE_FIELDS = ("features",)
    alpha: float = Field(default=RELEASED_FIXED_WEIGHTS[0], gt=0, description="λ_CE scale (adaptive scaling)")
    beta: float = Field(default=RELEASED_FIXED_WEIGHTS[1], gt=0, description="λ_SC scale (adaptive scaling)")


class HDFHparams(StrictModel):
    """HDF's switches and settings; defaults are the full model."""

    dam: bool = True
    dsm: DSMSettings = Field(default_factory=DSMSettings)
    sam: bool = True
    adaptive_scaling: bool = True
    rho: float = Field(0.05, ge=0)
    bn_second_pass: Literal["update", "freeze"] = "update"
    label_smoothing: float = Field(0.1, ge=0, lt=1)
    dam_reduction: int = Field(1, ge=1)

    @field_validator("dsm", mode="before")
    @classmethod
    def _switch(cls, value):
        return {"enabled": value} if isinstance(value, bool) else value


@register("hdf")
class HDF(Strategy):
    """X3D with DAM after each stage, CE + DSM with gradient-driven scaling, trained with SAM."""

    Hparams = HDFHparams
    hparams: HDFHparams
    grad_norm: torch.Tensor  # a buffer (registered in __init__)

    @staticmethod
    def search_space(trial) -> dict:
        return {
            "rho": trial.suggest_float("rho", 0.01, 0.2, log=True),
            "label_smoothing": trial.suggest_float("label_smoothing", 0.0, 0.2),
        }

    @classmethod
    def relative_cost(cls, hparams):
        # SAM's two passes, plus DAM and DSM (benchmarks/step_cost.py: full HDF 2.3–2.7× ERM)
        return (2.0 if hparams.sam else 1.0) * (1.25 if hparams.dam or hparams.dsm.enabled else 1.0)

    @classmethod
    def needs(cls, hparams):
        needed = {"stages": "dam"} if hparams.dam else {}
        if hparams.dsm.enabled and hparams.dsm.features != "after_dropout":
            needed["feature_point"] = "dsm"
        return needed

    def __init__(self, model, hparams, task, optimizer, balance="none"):
        super().__init__(model, hparams, task, optimizer, balance)
        self.register_buffer("grad_norm", torch.tensor(1.0))

    def prepare_model(self, model):
        hparams = self.hparams
        if hparams.dam:
            insert_dam(model, hparams.dam_reduction)
        if hparams.dsm.features != "after_dropout":
            if "feature_point" not in getattr(model, "capabilities", ()):
                raise ValueError(
                    f"dsm.features '{hparams.dsm.features}' needs a backbone with a feature_point, "
                    f"got {type(model).__name__}"
                )
            model.feature_point = hparams.dsm.features
        return model

    def build_optimizer(self, spec):
        if self.hparams.sam:
            return build_sam(self, spec, self.hparams.rho, adaptive=False)
        return super().build_optimizer(spec)

    def loss_weights(self) -> tuple[float, float]:
        """Return this step's (λ_CE, λ_SC)."""
        dsm = self.hparams.dsm
        if not dsm.enabled:
            return 1.0, 0.0
        if self.hparams.adaptive_scaling:
            return adaptive_loss_weights(self.grad_norm, dsm.alpha, dsm.beta)
        return RELEASED_FIXED_WEIGHTS

    def compute_loss(self, logits, features, batch):
        ce = self.reduce(
            F.cross_entropy(logits, batch.labels, label_smoothing=self.hparams.label_smoothing, reduction="none"), batch
        )
        lam_ce, lam_sc = self.loss_weights()
        logs = {"ce": float(ce.detach()), "lambda_ce": lam_ce, "lambda_sc": lam_sc}
        if lam_sc == 0.0:
            return lam_ce * ce, logs
        dsm = self.hparams.dsm
        terms = dsm_terms(
            features,
            batch.labels,
            variant=dsm.variant,
            temperature=dsm.temperature,
            eta=dsm.eta,
            ib_weight=dsm.ib_weight,
            weight_on=dsm.weight_on,
        )
        dsm_value = combine_terms(terms, dsm.variant, dsm.ib_weight)
        logs.update(
            dsm=float(dsm_value.detach()),
            dsm_contrastive=float(terms["contrastive"].detach()),
            dsm_ib=float(terms["ib"].detach()),
        )
        return lam_ce * ce + lam_sc * dsm_value, logs

    def training_step(self, batch):
        if self.hparams.sam:
            logs = sam_training_step(self, batch, freeze_bn=self.hparams.bn_second_pass == "freeze")
            self.grad_norm.fill_(logs["grad_norm"])
            return logs
        self.model.train()
        self.optimizer.zero_grad(set_to_none=True)
        loss, logs = self.forward_loss(batch)
        loss.backward()
        self.grad_norm.fill_(float(global_norm([p.grad for p in self.parameters() if p.grad is not None])))
        self.optimizer.step()
        return {"loss": float(loss.detach()), "grad_norm": float(self.grad_norm), **logs}


def insert_dam(model, reduction: int) -> None:
    """Put a DAM in each of the backbone's ``after_stage`` slots, built for that stage's channels and frames."""
    if "stages" not in getattr(model, "capabilities", ()):
        raise ValueError(f"HDF's DAM needs a backbone with stages (after_stage slots), got {type(model).__name__}")
    for i, (channels, frames) in enumerate(zip(model.stage_channels(), model.stage_frames(), strict=True)):
        model.after_stage[i] = DAM(channels, frames, reduction=reduction)
