"""``mafw``: MAFW (Liu et al., ACM MM 2022), 9,172 single-expression clips, 11 classes, 5 folds.

Layout (see docs/datasets.md)::

    <root>/split/single/no_caption/set_<k>/{train,test}.txt    lines 'NNNNN.mp4 label-name'
    <root>/data/faces/NNNNN/   or  <root>/data/frames/NNNNN/   or  <root>/data/clips/NNNNN.mp4

``clip_source`` says which: ``faces`` (the face crops published results use; the default), ``frames``
(whole frames) or ``clips`` (the videos). Earlier releases took the first that existed, whole frames first.
"""

from __future__ import annotations

from functools import cached_property
from pathlib import Path
from typing import Literal

import pandas as pd
from pydantic import Field

from hdfbench.data.base import DATASETS
from hdfbench.data.errors import DataError
from hdfbench.data.filedataset import FileDataset, FileOptions, split_rows
from hdfbench.schema import LocalPath

#: The official order (MAFW README): the 7 basic expressions, then the 4 compound-ish ones.
MAFW_CLASSES = (
    "anger",
    "disgust",
    "fear",
    "happiness",
    "neutral",
    "sadness",
    "surprise",
    "contempt",
    "anxiety",
    "helplessness",
    "disappointment",
)
CLIP_FOLDERS = {"faces": "data/faces", "frames": "data/frames", "clips": "data/clips"}


class MAFWOptions(FileOptions):
    """Options of the MAFW loader."""

    root: LocalPath = Field(description="folder holding split/ and data/")
    clip_source: Literal["faces", "frames", "clips"] = Field(
        "faces", description="data/faces (face crops, as published work uses), data/frames or data/clips"
    )

    LATE_FIELDS = (*FileOptions.LATE_FIELDS, "clip_source")


@DATASETS.register("mafw")
class MAFW(FileDataset):
    """MAFW single-expression clips in the official 5-fold protocol."""

    Options = MAFWOptions
    classes = MAFW_CLASSES
    folds = (1, 2, 3, 4, 5)

    def split_file(self, fold: int, part: str) -> Path:
        return self.root / "split" / "single" / "no_caption" / f"set_{fold}" / f"{part}.txt"

    def read_split(self, path: Path) -> pd.DataFrame:
        rows = [(Path(clip).stem, label, number) for number, clip, label in split_rows(path, "NNNNN.mp4 label-name")]
        return pd.DataFrame(rows, columns=["clip_id", "raw_label", "line"])

    options: MAFWOptions

    @cached_property
    def clip_folder(self) -> Path:
        """Return the folder of ``clip_source``; raise ``DataError`` naming the option if it does not exist."""
        folder = self.root / CLIP_FOLDERS[self.options.clip_source]
        if not folder.is_dir():
            others = [name for name, sub in CLIP_FOLDERS.items() if (self.root / sub).is_dir()]
            found = f"; {self.root} has {', '.join(CLIP_FOLDERS[o] for o in others)}" if others else ""
            raise DataError(
                f"MAFW clip folder {folder} does not exist (datasets[].options.clip_source: "
                f"{self.options.clip_source}){found}"
            )
        return folder

    def cache_params(self) -> dict:
        return {**super().cache_params(), "clip_source": self.options.clip_source}

    def clip_base(self, clip_id: str) -> Path:
        return self.clip_folder / clip_id
