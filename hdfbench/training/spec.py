"""The fully resolved specification of one run (one cell of a sweep)."""

from __future__ import annotations

import hashlib
import json

from hdfbench.config import DatasetSpec, EvaluationSpec, ModelSpec, SelectionSpec, StrategySpec, TrainingSpec
from hdfbench.schema import StrictModel


class RunSpec(StrictModel):
    """Everything that determines one run's result; ``run_id`` is derived from it."""

    experiment: str
    dataset: DatasetSpec
    fold: int
    seed: int
    strategy: StrategySpec
    model: ModelSpec
    training: TrainingSpec
    selection: SelectionSpec
    evaluation: EvaluationSpec = EvaluationSpec()
    cache_dir: str | None = None
    threads: int = 1

    def identity(self) -> dict:
        """Return the fields that determine the result, as JSON: not the cache location, the thread count,
        the memory layout (``training.channels_last``) or the kernel choices (``COMPUTE_FIELDS`` of the
        backbone options and the optimizer), which change rounding, not the method.

        Fields added later (``LATE_FIELDS`` of the training settings, the strategy entry, the dataset's
        options and the evaluation views) count only when they differ from their defaults, so a run keeps the id it
        had before they existed.
        """
        from hdfbench.data import DATASETS
        from hdfbench.models import BACKBONES
        from hdfbench.strategies import STRATEGIES

        payload = self.model_dump(
            mode="json", exclude={"cache_dir": True, "threads": True, "training": {"channels_last"}}
        )
        payload["training"] = TrainingSpec.identity_payload(payload["training"])
        payload["selection"] = SelectionSpec.identity_payload(payload["selection"])  # report_oracle: late
        evaluation = EvaluationSpec.identity_payload(payload.pop("evaluation"))
        if evaluation:  # the single view of earlier releases adds nothing
            payload["evaluation"] = evaluation
        payload["strategy"] = StrategySpec.identity_payload(payload["strategy"])
        hparams = STRATEGIES.get(self.strategy.name).Hparams
        payload["strategy"]["hparams"] = hparams.identity_payload(payload["strategy"]["hparams"])
        if self.dataset.name in DATASETS.names():
            options = DATASETS.get(self.dataset.name).Options.identity_payload(payload["dataset"]["options"])
            payload["dataset"] = {**payload["dataset"], "options": options}
        if self.model.backbone in BACKBONES.names():  # kernel choices (COMPUTE_FIELDS) are not identity
            options = BACKBONES.get(self.model.backbone).Options.identity_payload(payload["model"]["options"])
            payload["model"] = {**payload["model"], "options": options}
        return payload

    def fingerprint(self) -> str:
        """Return a short hash of ``identity()``."""
        return hashlib.sha256(json.dumps(self.identity(), sort_keys=True).encode()).hexdigest()[:8]

    @property
    def run_id(self) -> str:
        """Return a readable, stable id: ``<dataset>-f<fold>-s<seed>-<variant>-<hash>``."""
        return f"{self.dataset.name}-f{self.fold}-s{self.seed}-{self.strategy.label}-{self.fingerprint()}"
