"""``dfew``: DFEW (Jiang et al., ACM MM 2020), 11,697 single-labelled clips, 7 classes, 5 folds.

Layout (the official release; see docs/datasets.md)::

    <root>/Clip/clip_224x224/<5-digit id>/            variable-length frames  (frames_dir: all)
    <root>/Clip/clip_224x224_16f/<5-digit id>/        16 TIM-interpolated frames (frames_dir: 16f)
    <root>/EmoLabel_DataSplit/train(single-labeled)/set_<k>.csv   header video_name,label
    <root>/EmoLabel_DataSplit/test(single-labeled)/set_<k>.csv

Ids are zero-padded to 5 digits, labels 1..7 map to 0..6 in the order of ``DFEW_CLASSES``. The
``single_labeled`` spelling of the split folders and the doubled ``clip_224x224/clip_224x224/``
that the archives unzip to are accepted; a video ``<id>.mp4`` may stand in for a frame folder.
"""

from __future__ import annotations

import csv
from pathlib import Path
from typing import Literal

import numpy as np
import pandas as pd
from pydantic import Field

from hdfbench.data.base import DATASETS
from hdfbench.data.errors import DataError
from hdfbench.data.filedataset import FileDataset, FileOptions
from hdfbench.data.heterogeneity import quantile_bins, vote_entropy
from hdfbench.schema import LocalPath

DFEW_CLASSES = ("Happy", "Sad", "Neutral", "Angry", "Surprise", "Disgust", "Fear")
#: Single-labelled DFEW clips per class, in ``DFEW_CLASSES`` order (11,697 in all; docs/datasets.md).
DFEW_COUNTS = np.array([2445, 1894, 2669, 2173, 1469, 145, 902])
FRAME_FOLDERS = {"16f": "clip_224x224_16f", "all": "clip_224x224"}
SPLIT_SPELLINGS = ("{part}(single-labeled)", "{part}(single_labeled)")


#: The vote columns of the release's Annotation/annotation.xlsx, in ``DFEW_CLASSES`` order, and its clip column.
VOTE_COLUMNS = ("1happy", "2sad", "3neutral", "4angry", "5surprise", "6disgust", "7fear")
VOTE_CLIP_COLUMN = "order"


class DFEWOptions(FileOptions):
    """Options of the DFEW loader."""

    root: LocalPath = Field(description="folder holding Clip/ and EmoLabel_DataSplit/")
    frames_dir: Literal["16f", "all"] = Field("16f", description="Clip/clip_224x224_16f or Clip/clip_224x224")
    votes: LocalPath | None = Field(
        None, description="the release's Annotation/annotation.xlsx (or a CSV of it): an 'ambiguity' group field"
    )
    ambiguity_groups: int = Field(3, ge=2, le=9, description="bins of the vote entropy when votes is given")

    LATE_FIELDS = (*FileOptions.LATE_FIELDS, "votes", "ambiguity_groups")


@DATASETS.register("dfew")
class DFEW(FileDataset):
    """DFEW single-labelled clips (11,697) in the official 5-fold protocol."""

    Options = DFEWOptions
    options: DFEWOptions
    classes = DFEW_CLASSES
    folds = (1, 2, 3, 4, 5)
    title = "DFEW"
    root_help = "download DFEW and point root at the folder holding Clip/ and EmoLabel_DataSplit/"

    @property
    def frames_root(self) -> Path:
        """Return the folder holding one frame folder per clip (the nested archive layout accepted)."""
        name = FRAME_FOLDERS[self.options.frames_dir]
        folder = self.root / "Clip" / name
        if (folder / name).is_dir():
            return folder / name
        if not folder.is_dir():
            raise DataError(
                f"DFEW frames folder {folder} does not exist (datasets[].options.frames_dir: {self.options.frames_dir})"
            )
        return folder

    length_help = " (frames_dir: 16f is resampled to 16 frames a clip; use frames_dir: all)"

    @classmethod
    def group_fields_for(cls, options) -> tuple[str, ...]:
        """Return FileDataset's group fields, then ``ambiguity`` when a vote file is given."""
        return (*super().group_fields_for(options), *(("ambiguity",) if options.votes else ()))

    def derived_groups(self) -> pd.DataFrame:
        """Return FileDataset's derived groups and, with ``votes``, ``ambiguity``: bins of each clip's
        normalised vote entropy (0: all 10 annotators agreed)."""
        groups = super().derived_groups()
        if self.options.votes:
            entropy = read_vote_entropy(Path(self.options.votes))
            missing = [c for c in groups.index if c not in entropy.index]
            if missing:
                raise DataError(
                    f"{self.options.votes}: no votes for {len(missing)} listed clips, e.g. {', '.join(missing[:3])} "
                    "(datasets[].options.votes)"
                )
            groups["ambiguity"] = quantile_bins(entropy.loc[groups.index], self.options.ambiguity_groups, digits=2)
        return groups

    def cache_params(self) -> dict:
        return {**super().cache_params(), "frames_dir": self.options.frames_dir}

    def split_file(self, fold: int, part: str) -> Path:
        folders = [self.root / "EmoLabel_DataSplit" / s.format(part=part) for s in SPLIT_SPELLINGS]
        folder = next((f for f in folders if f.is_dir()), folders[0])
        return folder / f"set_{fold}.csv"

    def read_split(self, path: Path) -> pd.DataFrame:
        table = pd.read_csv(path, dtype=str, keep_default_na=False)
        if not isinstance(table.index, pd.RangeIndex):  # rows with more fields than the header
            line = next(n for n, row in enumerate(csv.reader(path.open(newline="")), start=1) if len(row) > 2)
            raise DataError(f"{path}:{line}: expected 2 fields 'video_name,label', got more")
        if list(table.columns[:2]) != ["video_name", "label"]:
            raise DataError(f"{path}:1: expected the header 'video_name,label', got '{','.join(table.columns)}'")
        ids = table["video_name"].str.strip()
        return pd.DataFrame(
            {
                "clip_id": ids.where(~ids.str.isdigit(), ids.str.zfill(5)),
                "raw_label": table["label"].str.strip(),
                "line": table.index + 2,
            }
        )

    def label_index(self, raw: str) -> int | None:
        return int(raw) - 1 if raw.isdigit() and 1 <= int(raw) <= len(self.classes) else None

    def label_names(self) -> tuple[str, ...]:
        return tuple(str(i) for i in range(1, len(self.classes) + 1))

    def clip_base(self, clip_id: str) -> Path:
        return self.frames_root / clip_id


def read_vote_entropy(path: Path) -> pd.Series:
    """Return the normalised vote entropy of every clip of DFEW's vote table (``annotation.xlsx`` or a CSV with
    its columns), indexed by 5-digit clip id; a missing file, column or a row without votes raises
    ``DataError`` naming it (row numbers as a spreadsheet shows them)."""
    if not path.is_file():
        raise DataError(f"DFEW vote file {path} does not exist (datasets[].options.votes)")
    try:
        table = pd.read_csv(path, dtype=str) if path.suffix.lower() == ".csv" else pd.read_excel(path, dtype=str)
    except Exception as exc:  # openpyxl and the csv parser raise many types for a file that is not a table
        raise DataError(f"{path}: not a readable vote table ({str(exc).strip().splitlines()[0]})") from None
    table.columns = [str(c).strip() for c in table.columns]
    absent = [c for c in (*VOTE_COLUMNS, VOTE_CLIP_COLUMN) if c not in table.columns]
    if absent:
        raise DataError(
            f"{path}:1: the vote table has no column {', '.join(absent)} (expected {', '.join(VOTE_COLUMNS)}, order)"
        )
    votes = table[list(VOTE_COLUMNS)].apply(pd.to_numeric, errors="coerce")
    bad = votes.isna().any(axis=1) | (votes < 0).any(axis=1) | (votes.sum(axis=1) <= 0)
    if bad.any():
        row = int(np.flatnonzero(bad.to_numpy())[0]) + 2
        raise DataError(f"{path}:{row}: vote counts must be non-negative numbers, not all zero")
    ids = table[VOTE_CLIP_COLUMN].str.strip().str.replace(r"\.0$", "", regex=True).str.zfill(5)
    return pd.Series(vote_entropy(votes.to_numpy()), index=ids.to_numpy())
