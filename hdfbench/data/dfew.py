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
from hdfbench.schema import LocalPath

DFEW_CLASSES = ("Happy", "Sad", "Neutral", "Angry", "Surprise", "Disgust", "Fear")
#: Single-labelled DFEW clips per class, in ``DFEW_CLASSES`` order (11,697 in all; docs/datasets.md).
DFEW_COUNTS = np.array([2445, 1894, 2669, 2173, 1469, 145, 902])
FRAME_FOLDERS = {"16f": "clip_224x224_16f", "all": "clip_224x224"}
SPLIT_SPELLINGS = ("{part}(single-labeled)", "{part}(single_labeled)")


class DFEWOptions(FileOptions):
    """Options of the DFEW loader."""

    root: LocalPath = Field(description="folder holding Clip/ and EmoLabel_DataSplit/")
    frames_dir: Literal["16f", "all"] = Field("16f", description="Clip/clip_224x224_16f or Clip/clip_224x224")


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
