"""The experiment configuration's schema: a sweep (datasets × folds × seeds × strategies) and how each run
trains, is selected, uses resources and is tracked. Every model is strict (unknown keys are errors)."""

from __future__ import annotations

from pathlib import Path
from typing import Any, ClassVar, Literal

from pydantic import Field, field_validator, model_validator

from hdfbench.losses.balancing import Balance, Balancing, ClassWeighting
from hdfbench.optim import OptimizerSpec, ScheduleSpec
from hdfbench.schema import LocalPath, StrictModel
from hdfbench.selection_rules import SelectionRule

NAME_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.+-]*$"


class DatasetSpec(StrictModel):
    """One dataset and its loader options (validated against the loader's own schema)."""

    name: str
    options: dict[str, Any] = Field(default_factory=dict)


class ParamSpace(StrictModel):
    """One searched parameter: a float or int range (optionally log-scaled), or a list of choices."""

    type: Literal["float", "int", "choice"] = "float"
    low: float | None = None
    high: float | None = None
    log: bool = False
    choices: list[Any] | None = None

    @model_validator(mode="after")
    def _complete(self) -> "ParamSpace":
        if self.type == "choice":
            if not self.choices:
                raise ValueError("type 'choice' needs a non-empty 'choices' list")
        elif self.low is None or self.high is None or not self.low < self.high:
            raise ValueError(f"type '{self.type}' needs low < high")
        elif self.log and self.low <= 0:
            raise ValueError("log scale needs low > 0")
        return self


class SearchSpec(StrictModel):
    """Optuna search of a strategy's hyperparameters on one (fold, seed) cell, before the final grid.

    ``space`` maps names to ranges: a plain name is a strategy hyperparameter, a dotted path
    (``training.optimizer.lr``) a training setting. Without ``space`` the strategy's own
    ``search_space`` is used. Trials are scored on inner validation only.
    """

    n_trials: int = Field(ge=1)
    space: dict[str, ParamSpace] | None = None
    fold: int | None = Field(None, description="fold searched on (default: the first of folds)")
    seed: int | None = Field(None, description="seed searched with (default: the first of seeds)")
    max_concurrent: int | None = Field(None, ge=1, description="parallel trials (TPE needs few)")
    sampler_seed: int = 0


class StrategySpec(StrictModel):
    """One strategy run: its registered name (or ``module:Class``), a variant label, hyperparameters."""

    name: str
    variant: str | None = Field(None, pattern=NAME_PATTERN, description="label in results; default: name")
    hparams: dict[str, Any] = Field(default_factory=dict)
    balance: Balance = Field(
        "none", description="balancing for any strategy: class-weighted loss, or balanced sampling"
    )
    balance_groups: str = Field(
        "class", description="what 'sample' balances: 'class', a metadata field, or 'class*<field>'"
    )
    class_weights: ClassWeighting = Field(
        "inverse_frequency", description="'reweight' weights: 1/n_c, or (1 − β)/(1 − β^n_c) (Cui et al., 2019)"
    )
    beta: float = Field(0.9999, gt=0, lt=1, description="β of the effective number of samples")
    search: SearchSpec | None = None

    LATE_FIELDS = ("balance_groups", "class_weights", "beta")

    @model_validator(mode="after")
    def _weights_need_reweight(self) -> "StrategySpec":
        fields = type(self).model_fields
        changed = [f for f in ("class_weights", "beta") if getattr(self, f) != fields[f].default]
        if changed and self.balance != "reweight":
            raise ValueError(f"{' and '.join(changed)} only apply with balance: reweight (balance is '{self.balance}')")
        if "beta" in changed and self.class_weights != "effective_number":
            raise ValueError("beta only applies with class_weights: effective_number")
        return self

    @property
    def balancing(self):
        """Return the ``losses.balancing.Balancing`` a strategy is built with."""
        return Balancing(self.balance, self.class_weights, self.beta)

    @property
    def label(self) -> str:
        """Return the variant label shown in results: the variant, else the name (+ balancing)."""
        if self.variant:
            return self.variant
        suffix = {"none": "", "reweight": "+reweight", "sample": "+balanced_sampling"}[self.balance]
        if self.class_weights == "effective_number":
            suffix = f"+reweight_effective_number_{self.beta:g}"
        if self.balance == "sample" and self.balance_groups != "class":
            suffix = f"+balanced_{self.balance_groups.replace('*', 'x')}"
        return self.name.rpartition(":")[2].lower() + suffix


class ModelSpec(StrictModel):
    """The backbone and its options."""

    backbone: str = "x3d_tiny"
    options: dict[str, Any] = Field(default_factory=dict)


class TrainingSpec(StrictModel):
    """How each run trains, and how it uses its device (the GPU settings are docs/cluster.md's recipe)."""

    epochs: int = Field(default=10, ge=1)
    batch_size: int = Field(default=16, ge=1)
    eval_batch_size: int = Field(default=64, ge=1)
    optimizer: OptimizerSpec = Field(default_factory=OptimizerSpec)
    schedule: ScheduleSpec = Field(default_factory=ScheduleSpec)
    device: Literal["auto", "cpu", "cuda"] = Field(
        default="auto", description="auto: CUDA when the trial was given a GPU, else CPU"
    )
    num_workers: int = Field(default=0, ge=0)
    val_fraction: float = Field(default=0.1, gt=0, le=0.5)
    max_steps_per_epoch: int | None = Field(default=None, ge=1)
    precision: Literal["auto", "fp32", "bf16"] = Field(
        default="auto",
        description="forward passes under autocast: auto = bf16 on CUDA devices that support it, else fp32",
    )
    channels_last: Literal["auto"] | bool = Field(
        default="auto",
        description="channels_last_3d memory format for the model and its clips (auto: on the CPU in float32, "
        "where it made X3D steps about 2× faster; docs/performance.md)",
    )
    pin_memory: Literal["auto"] | bool = Field(default="auto", description="page-locked batches (auto: on CUDA)")
    persistent_workers: bool = Field(
        default=True, description="keep DataLoader workers across epochs (num_workers > 0)"
    )
    prefetch_factor: int = Field(
        default=2, ge=1, description="batches each DataLoader worker loads ahead (num_workers > 0)"
    )
    cudnn_benchmark: bool = Field(
        default=True, description="let cuDNN pick the fastest kernels for the fixed clip shape"
    )
    augment_on: Literal["auto", "loader", "device"] = Field(
        default="auto",
        description="where training augmentation runs: the DataLoader (its workers) or the training device, "
        "batched; the same clips to rounding (auto: the device on CUDA; docs/performance.md)",
    )

    #: Fields added after run ids were first published: they enter a run's fingerprint only when set
    #: away from their defaults, so existing run directories keep their ids and resume.
    LATE_FIELDS: ClassVar[tuple[str, ...]] = (
        "precision",
        "pin_memory",
        "persistent_workers",
        "prefetch_factor",
        "cudnn_benchmark",
    )
    #: Fields that choose where a result is computed, not what (rounding only): never part of a run id.
    COMPUTE_FIELDS: ClassVar[tuple[str, ...]] = ("augment_on",)


class SelectionSpec(StrictModel):
    """Which epoch's model is kept: the best one on the inner validation split by ``rule``.

    ``report_oracle`` also evaluates the test split every epoch and reports the best-on-test epoch's UAR and
    WAR (each at its own epoch) beside the selected one, as the literature selects; never used to select.
    """

    rule: SelectionRule = "best_val_uar"
    report_oracle: bool = Field(
        default=False, description="also record the best-on-test epoch's UAR and WAR (reported only, never selected)"
    )

    #: Newer than the first published run ids: counts only when set (a run that records the oracle differs).
    LATE_FIELDS: ClassVar[tuple[str, ...]] = ("report_oracle",)


class EvaluationSpec(StrictModel):
    """How validation and test clips are predicted: the field's multi-view test protocol, the logits
    averaged over ``temporal_views`` clips × ``spatial_views`` crops of each video. One view of each is the
    single pass of every release (segment centres, the whole frame)."""

    temporal_views: int = Field(
        default=1, ge=1, le=16, description="clips per video: TSN frames at (j + 1/2) / k of each segment, j < k"
    )
    spatial_views: int = Field(
        default=1, ge=1, le=16, description="crops per clip, along the frame's diagonal (1: the whole frame)"
    )
    crop_area: float = Field(default=0.8, gt=0, le=1, description="area fraction of each crop when spatial_views > 1")
    on_validation: bool = Field(
        default=False, description="also average the views for validation (epoch selection); default: one view"
    )

    #: Every field is newer than the first published run ids: a field counts only when set.
    LATE_FIELDS: ClassVar[tuple[str, ...]] = ("temporal_views", "spatial_views", "crop_area", "on_validation")

    @property
    def views(self) -> int:
        """Return the number of passes averaged per clip (temporal × spatial)."""
        return self.temporal_views * self.spatial_views


class ResourcesSpec(StrictModel):
    """Ray resources of one trial."""

    cpu: float = Field(default=1, gt=0)
    gpu: float = Field(default=0, ge=0)


class TrackingSpec(StrictModel):
    """MLflow mirroring; ``uri`` defaults to ``sqlite:///<output_dir>/mlflow.db``.

    On a Ray cluster the documented store is an MLflow tracking server (``http://HOST:PORT``); a
    sqlite file is accepted there only on the shared ``output_dir`` and with ``allow_shared_sqlite``.
    """

    enabled: bool = True
    uri: str | None = None
    allow_shared_sqlite: bool = Field(default=False, description="on a cluster, let every node write one sqlite file")


class RaySpec(StrictModel):
    """The Ray instance: local (address null) or an existing cluster (``HOST:PORT`` of its head)."""

    address: str | None = None
    max_concurrent_trials: int | None = Field(default=None, ge=1)
    max_failures: int = Field(default=2, ge=0, description="retries of a trial whose process or node was lost")
    ship_code: bool = Field(default=True, description="send the hdfbench package to a cluster's nodes with each job")
    py_modules: list[LocalPath] = Field(
        default_factory=list, description="more local packages to send (plugins, module:Class files)"
    )
    preflight_timeout_s: float = Field(
        default=120, gt=0, description="how long each node may take to answer the preflight"
    )

    @field_validator("py_modules")
    @classmethod
    def _shippable(cls, paths: list[str]) -> list[str]:
        bad = [p for p in paths if not (Path(p).is_dir() or (Path(p).is_file() and Path(p).suffix in (".py", ".whl")))]
        if bad:
            raise ValueError(f"not a package folder, .py file or .whl file: {', '.join(bad)}")
        return paths


class ExperimentConfig(StrictModel):
    """A sweep: datasets × folds × seeds × strategies, and how each run trains and is tracked."""

    experiment: str = Field(pattern=NAME_PATTERN)
    description: str = ""
    datasets: list[DatasetSpec] = Field(min_length=1)
    folds: list[int] = Field(default_factory=lambda: [1], min_length=1)
    seeds: list[int] = Field(default_factory=lambda: [0], min_length=1)
    strategies: list[StrategySpec] = Field(min_length=1)
    model: ModelSpec = Field(default_factory=ModelSpec)
    training: TrainingSpec = Field(default_factory=TrainingSpec)
    selection: SelectionSpec = Field(default_factory=SelectionSpec)
    evaluation: EvaluationSpec = Field(default_factory=EvaluationSpec)
    resources: ResourcesSpec = Field(default_factory=ResourcesSpec)
    tracking: TrackingSpec = Field(default_factory=TrackingSpec)
    ray: RaySpec = Field(default_factory=RaySpec)
    output_dir: str = "results"
    cache_dir: LocalPath | None = Field(None, description="data cache; default $HDFBENCH_CACHE or ~/.cache/hdfbench")

    @field_validator("folds", "seeds")
    @classmethod
    def _unique(cls, values: list[int]) -> list[int]:
        if len(set(values)) != len(values):
            raise ValueError(f"values must be unique, got {values}")
        return values

    @model_validator(mode="after")
    def _unique_variants(self) -> "ExperimentConfig":
        labels = [s.label for s in self.strategies]
        duplicates = sorted({x for x in labels if labels.count(x) > 1})
        if duplicates:
            raise ValueError(f"strategy variants must be unique; repeated: {duplicates} (set 'variant')")
        return self

    @property
    def experiment_dir(self) -> Path:
        """Return ``<output_dir>/<experiment>``."""
        return Path(self.output_dir) / self.experiment

    def tracking_uri(self) -> str:
        """Return the MLflow tracking URI (absolute sqlite path by default)."""
        return self.tracking.uri or f"sqlite:///{Path(self.output_dir).resolve() / 'mlflow.db'}"
