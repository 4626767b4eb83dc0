"""Optimizers and learning-rate schedules built from the experiment config."""

from hdfbench.optim.schedules import OptimizerSpec, ScheduleSpec, build_optimizer, build_scheduler

__all__ = ["OptimizerSpec", "ScheduleSpec", "build_optimizer", "build_scheduler"]
