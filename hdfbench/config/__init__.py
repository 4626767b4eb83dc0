"""The experiment configuration: its schema (``experiment``), loading from YAML with diagnostics
(``loading``, reporting ``problems``, checking the named ``components`` against their registries) and
smoke-run shrinking (``smoke``). The schema sits below the strategies; the package, like ``loading`` and
``components``, above them."""

from hdfbench.config.experiment import (
    NAME_PATTERN,
    DatasetSpec,
    EvaluationSpec,
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
from hdfbench.config.loading import apply_overrides, load_config, parse_config
from hdfbench.config.problems import ConfigError, Problem, format_loc
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
    "EvaluationSpec",
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
