"""Optimizers and learning-rate schedules built from the experiment config."""

from hdfbench.optim.sam import SAM
from hdfbench.optim.schedules import OptimizerSpec, ScheduleSpec, build_optimizer, build_scheduler, optimizer_class

__all__ = ["SAM", "OptimizerSpec", "ScheduleSpec", "build_optimizer", "build_scheduler", "optimizer_class"]
