"""Clip tables, the dataset contract and registry, folds and the inner validation split."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar, Protocol, cast

import numpy as np
import pandas as pd
from sklearn.model_selection import train_test_split

from hdfbench.data.clips import ClipArray, MemoryClips
from hdfbench.data.errors import DataError
from hdfbench.registry import Registry
from hdfbench.schema import StrictModel

#: Columns every clip table has; any other column is a metadata field.
CLIP_COLUMNS = ("clip_id", "label")


class ClipShape(Protocol):
    """The options ``Dataset.frames`` and ``Dataset.size`` read: those of every dataset that does not
    override the two properties."""

    frames: int
    size: int


class Dataset:
    """A labelled DFER dataset with fixed folds.

    A subclass declares ``Options`` (a pydantic model validated from the experiment YAML, with
    ``frames`` and ``size`` unless the subclass overrides those properties: ``ClipShape``),
    ``classes`` (canonical class order), ``folds``, ``group_fields`` (metadata columns that can
    define groups) and ``metadata_fields`` (every metadata column written to predictions), and
    implements ``prepare``, ``split`` and ``load_clips``. ``clip_array`` gives the trainer the clips
    of a table; by default they are loaded into memory once, and file-backed datasets read them
    lazily with per-epoch sampling and augmentation. ``skipped`` lists the bad clips left out
    under ``on_bad_clip: skip`` (filled by ``prepare``).
    """

    Options: ClassVar[type[StrictModel]] = StrictModel
    name: ClassVar[str] = ""
    classes: tuple[str, ...] = ()
    folds: tuple[int, ...] = (1,)
    group_fields: tuple[str, ...] = ()

    def __init__(self, options: StrictModel, cache_dir: Path):
        self.options = options
        self.cache_dir = Path(cache_dir)
        self.skipped: list = []
        # the facts the options decide, stated once (the classmethods answer before any instance exists)
        self.folds = self.folds_for(options)
        self.group_fields = self.group_fields_for(options)

    @property
    def metadata_fields(self) -> tuple[str, ...]:
        """Return the metadata columns of the clip tables that travel into predictions (groups first)."""
        return self.group_fields

    @property
    def frames(self) -> int:
        """Return the number of frames T of every clip this dataset yields."""
        return cast(ClipShape, self.options).frames

    @property
    def size(self) -> int:
        """Return the spatial side of every clip this dataset yields (clips are square)."""
        return cast(ClipShape, self.options).size

    def prepare(self) -> None:
        """Make the data ready to read (check, decode, cache); called once by the driver."""

    def scan(self) -> None:
        """Make ``split`` usable as cheaply as possible (no decoding where a dataset can avoid it)."""
        self.prepare()

    def census(self) -> dict:
        """Return a small summary of the data as this machine sees it, cheap to compute (no decoding).

        The preflight compares it across the nodes of a cluster; equal censuses mean the nodes read
        the same data. The default (data generated from the options) has nothing to compare.
        """
        return {}

    def bad_clips(self) -> list:
        """Return the bad clips found so far (those left out under ``on_bad_clip: skip``)."""
        return list(self.skipped)

    @classmethod
    def group_fields_for(cls, options: StrictModel) -> tuple[str, ...]:
        """Return the group fields of the dataset under ``options`` (``group_fields`` unless options set them)."""
        return cls.group_fields

    @classmethod
    def classes_for(cls, options: StrictModel) -> tuple[str, ...]:
        """Return the classes of the dataset under ``options`` when they are known before reading any
        file (``classes``), else () (they come from the data)."""
        return cls.classes if isinstance(cls.classes, tuple) else ()

    @classmethod
    def folds_for(cls, options: StrictModel) -> tuple[int, ...]:
        """Return the folds of the dataset under ``options`` (``folds`` unless the options change them)."""
        return cls.folds

    def split(self, fold: int) -> tuple[pd.DataFrame, pd.DataFrame]:
        """Return the (train, test) clip tables of ``fold``."""
        raise NotImplementedError

    def validation_split(self, train: pd.DataFrame, fraction: float, seed: int) -> tuple[pd.DataFrame, pd.DataFrame]:
        """Return (train, val): the inner validation split carved from a training fold (class-stratified)."""
        return inner_validation_split(train, fraction, seed)

    def in_distribution_test(self, fold: int) -> pd.DataFrame | None:
        """Return held-out clips of ``fold`` from the training distribution when the test side is shifted
        (None when the test side is already in distribution)."""
        return None

    def load_clips(self, table: pd.DataFrame) -> np.ndarray:
        """Return the clips of ``table`` as uint8 (N, T, H, W, 3), in the table's row order."""
        raise NotImplementedError

    def clip_array(self, table: pd.DataFrame, train: bool) -> ClipArray:
        """Return the clips of ``table`` for the trainer: indexable by positions or slices, with
        ``set_epoch(seed, epoch)``. ``train`` selects training sampling and augmentation where a
        dataset has them; the default loads ``load_clips(table)`` into memory, the same every epoch.
        """
        return MemoryClips(self.load_clips(table))

    @classmethod
    def smoke_options(cls, options: dict) -> dict:
        """Return ``options`` shrunk to a seconds-long run (the default changes nothing)."""
        return options


DATASETS: Registry[type[Dataset]] = Registry("dataset", "hdfbench.datasets", Dataset)


def default_cache_dir() -> Path:
    """Return the data cache root: ``$HDFBENCH_CACHE``, else ``$XDG_CACHE_HOME/hdfbench``."""
    if os.environ.get("HDFBENCH_CACHE"):
        return Path(os.environ["HDFBENCH_CACHE"]).expanduser().resolve()
    return (Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "hdfbench").expanduser().resolve()


def build_dataset(name: str, options: dict, cache_dir: str | Path | None = None) -> Dataset:
    """Return the registered dataset ``name`` with validated ``options``."""
    cls = DATASETS.get(name)
    return cls(cls.Options(**options), Path(cache_dir) if cache_dir else default_cache_dir())


@dataclass(frozen=True)
class Splits:
    """The clip tables of one (fold, seed) cell: train, inner validation and test, and, when the test
    side is shifted, ``test_id``: held-out clips of the training distribution (the fold's own)."""

    train: pd.DataFrame
    val: pd.DataFrame
    test: pd.DataFrame
    test_id: pd.DataFrame | None = None

    def tables(self) -> dict[str, pd.DataFrame]:
        """Return the split name → table of every split present (``test_id`` only when there is one)."""
        out = {"train": self.train, "val": self.val, "test": self.test}
        return out if self.test_id is None else {**out, "test_id": self.test_id}


def inner_validation_split(train: pd.DataFrame, fraction: float, seed: int) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Return (train, val) carved from a training fold: seeded, class-stratified.

    Classes with a single clip cannot be stratified; they stay in train.
    """
    counts = train["label"].value_counts()
    splittable = train[train["label"].map(counts) >= 2]
    n_val = max(int(round(fraction * len(train))), splittable["label"].nunique())
    kept, val = train_test_split(splittable, test_size=n_val, stratify=splittable["label"], random_state=seed)
    rest = train[~train.index.isin(splittable.index)]
    train_part = pd.concat([kept, rest]).sort_index()
    return train_part.reset_index(drop=True), val.sort_index().reset_index(drop=True)


def make_splits(dataset: Dataset, fold: int, seed: int, val_fraction: float) -> Splits:
    """Return the train / inner-validation / test tables of ``fold`` for ``seed``."""
    if fold not in dataset.folds:
        raise DataError(f"dataset '{dataset.name}' has folds {list(dataset.folds)}, not {fold}")
    train, test = dataset.split(fold)
    train, val = dataset.validation_split(train, val_fraction, seed)
    return Splits(train=train, val=val, test=test.reset_index(drop=True), test_id=dataset.in_distribution_test(fold))


def class_counts(table: pd.DataFrame, num_classes: int) -> np.ndarray:
    """Return the number of clips per class index in ``table`` (length ``num_classes``)."""
    return np.bincount(table["label"].to_numpy(), minlength=num_classes)
