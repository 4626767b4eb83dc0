"""Datasets: the registry, clip tables and splits, and the built-in loaders."""

from hdfbench.data import dfew, ferv39k, mafw, synthetic, videofolder  # noqa: F401  (registers the loaders)
from hdfbench.data.base import DATASETS, DataError, Dataset, Splits, build_dataset, make_splits

__all__ = ["DATASETS", "DataError", "Dataset", "Splits", "build_dataset", "make_splits"]
