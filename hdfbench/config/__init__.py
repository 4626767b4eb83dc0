"""The experiment configuration: its schema (``experiment``), loading from YAML with diagnostics
(``loading``) and smoke-run shrinking (``smoke``)."""

from hdfbench.config.experiment import (
    NAME_PATTERN,
    DatasetSpec,
    ExperimentConfig,
    ModelSpec,
    ParamSpace,
    RaySpec,
    ResourcesSpec,
    SearchSpec,
    SelectionSpec,
    StrategySpec,
    TrackingSpec,
    TrainingSpec,
)
from hdfbench.config.loading import ConfigError, Problem, apply_overrides, format_loc, load_config, parse_config
from hdfbench.config.smoke import changed_settings, smoke
from hdfbench.optim import OptimizerSpec, ScheduleSpec

__all__ = [
    "NAME_PATTERN",
    "ConfigError",
    "DatasetSpec",
    "ExperimentConfig",
    "ModelSpec",
    "OptimizerSpec",
    "ParamSpace",
    "Problem",
    "RaySpec",
    "ResourcesSpec",
    "ScheduleSpec",
    "SearchSpec",
    "SelectionSpec",
    "StrategySpec",
    "TrackingSpec",
    "TrainingSpec",
    "apply_overrides",
    "changed_settings",
    "format_loc",
    "load_config",
    "parse_config",
    "smoke",
]
