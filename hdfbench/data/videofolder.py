"""``videofolder``: your own clips as ``<root>/<class>/<clip>`` (a video file or a folder of frames).

Clip ids are ``<class>/<clip name without extension>``; classes are the class folders in sorted
order unless ``classes`` fixes the order. Five class-stratified folds are drawn with ``split_seed``,
unless the optional ``metadata_csv`` (a ``clip_id`` column plus any metadata columns) has a
``fold`` column (1..5) giving each clip's test fold. Columns named in ``group_fields`` become
metadata fields usable as groups.
"""

from __future__ import annotations

from functools import cached_property
from pathlib import Path

import numpy as np
import pandas as pd
from pydantic import Field
from sklearn.model_selection import StratifiedKFold

from hdfbench.data.base import DATASETS
from hdfbench.data.errors import DataError
from hdfbench.data.filedataset import FileDataset, FileOptions
from hdfbench.data.media import VIDEO_EXTS
from hdfbench.schema import LocalPath

N_FOLDS = 5


class VideoFolderOptions(FileOptions):
    """Options of the video-folder loader."""

    root: LocalPath = Field(description="folder holding one sub-folder per class")
    classes: list[str] | None = Field(None, description="class order (default: sorted class folder names)")
    metadata_csv: LocalPath | None = Field(None, description="CSV with clip_id and metadata columns (optional fold)")
    group_fields: list[str] = Field(default_factory=list, description="metadata columns usable as groups")
    split_seed: int = Field(0, description="seed of the stratified folds when the CSV has no fold column")


def _is_clip(path: Path) -> bool:
    return path.is_dir() or path.suffix.lower() in VIDEO_EXTS


@DATASETS.register("videofolder")
class VideoFolder(FileDataset):
    """Your own labelled clips in class folders, with optional metadata; 5 stratified folds."""

    Options = VideoFolderOptions
    options: VideoFolderOptions
    folds = tuple(range(1, N_FOLDS + 1))

    @classmethod
    def classes_for(cls, options) -> tuple[str, ...]:
        """Return the class order the options fix, or () when it comes from the class folders."""
        return tuple(options.classes or ())

    @classmethod
    def group_fields_for(cls, options) -> tuple[str, ...]:
        """Return the metadata columns the options declare as groups, then FileDataset's derived ones."""
        return (*options.group_fields, *super().group_fields_for(options))

    @cached_property
    def classes(self) -> tuple[str, ...]:  # type: ignore[override]  # mypy takes cached_property for read-only
        """Return the class order: the ``classes`` option, else the sorted class folders."""
        if self.options.classes:
            return tuple(self.options.classes)
        return tuple(sorted(p.name for p in self.root.iterdir() if p.is_dir() and not p.name.startswith(".")))

    @cached_property
    def listing(self) -> pd.DataFrame:
        """Return every clip: clip_id, raw_label, line, fold (its test fold) and the metadata columns."""
        rows = []
        for name in self.classes:
            folder = self.root / name
            if not folder.is_dir():
                raise DataError(f"class folder {folder} does not exist (datasets[].options.classes)")
            clips = sorted(p for p in folder.iterdir() if _is_clip(p) and not p.name.startswith("."))
            rows += [(f"{name}/{p.stem if p.is_file() else p.name}", name, 0) for p in clips]
        table = pd.DataFrame(rows, columns=["clip_id", "raw_label", "line"])
        if table.empty:
            raise DataError(f"no clips under {self.root}: expected <class>/<clip>.mp4 or <class>/<clip>/ frames")
        table = self._with_metadata(table)
        if "fold" not in table.columns:
            table["fold"] = self._folds(table["raw_label"])
        return table

    def _with_metadata(self, table: pd.DataFrame) -> pd.DataFrame:
        if not self.options.metadata_csv:
            return table
        path = Path(self.options.metadata_csv)
        if not path.is_file():
            raise DataError(f"metadata CSV {path} does not exist (datasets[].options.metadata_csv)")
        meta = pd.read_csv(path, dtype={"clip_id": str})
        missing = [c for c in ("clip_id", *self.group_fields) if c not in meta.columns]
        if missing:
            raise DataError(f"{path}:1: missing column(s) {', '.join(missing)} (has {', '.join(meta.columns)})")
        table = table.merge(meta.drop(columns=["raw_label", "line"], errors="ignore"), on="clip_id", how="left")
        for field in self.group_fields:
            table[field] = table[field].fillna("unknown").astype(str)
        if "fold" in table.columns:
            bad = table[~table["fold"].isin(self.folds)]
            if len(bad):
                raise DataError(
                    f"{path}: clip {bad['clip_id'].iloc[0]} has fold '{bad['fold'].iloc[0]}', "
                    f"expected one of {list(self.folds)}"
                )
        return table

    def _folds(self, labels: pd.Series) -> np.ndarray:
        folds = np.zeros(len(labels), dtype=int)
        n_splits = min(N_FOLDS, int(labels.value_counts().min()))
        if n_splits < 2:
            raise DataError(f"every class under {self.root} needs at least 2 clips for the folds")
        splitter = StratifiedKFold(n_splits=n_splits, shuffle=True, random_state=self.options.split_seed)
        for k, (_, test) in enumerate(splitter.split(np.zeros(len(labels)), labels), start=1):
            folds[test] = k
        return folds

    def rows(self, fold: int, part: str) -> pd.DataFrame:
        table = self.listing
        chosen = table[(table["fold"] == fold) == (part == "test")].copy()
        chosen["label"] = [self._label(v) for v in chosen["raw_label"]]
        chosen["file"] = str(self.root)
        return chosen.reset_index(drop=True)

    def clip_base(self, clip_id: str) -> Path:
        return self.root / clip_id
