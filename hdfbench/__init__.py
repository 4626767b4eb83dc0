"""hdfbench: a benchmark harness for distributionally robust training in dynamic facial
expression recognition (DFER)."""

from hdfbench._quiet import apply_quiet_settings

apply_quiet_settings()

__version__ = "0.1.0"
