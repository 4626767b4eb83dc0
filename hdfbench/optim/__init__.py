"""Optimizers and learning-rate schedules built from the experiment config."""

from hdfbench.optim.batchnorm import freeze_bn_stats
from hdfbench.optim.optimizers import (
    OptimizerSpec,
    build_optimizer,
    optimizer_class,
    optimizer_implementation,
    param_groups,
)
from hdfbench.optim.sam import SAM, global_norm
from hdfbench.optim.schedules import ScheduleSpec, build_scheduler

__all__ = [
    "SAM",
    "OptimizerSpec",
    "ScheduleSpec",
    "build_optimizer",
    "build_scheduler",
    "freeze_bn_stats",
    "global_norm",
    "optimizer_class",
    "optimizer_implementation",
    "param_groups",
]
