"""``mafw``: MAFW (Liu et al., ACM MM 2022), 9,172 single-expression clips, 11 classes, 5 folds.

Layout (see docs/datasets.md)::

    <root>/split/single/no_caption/set_<k>/{train,test}.txt    lines 'NNNNN.mp4 label-name'
    <root>/data/frames/NNNNN/   or  <root>/data/faces/NNNNN/   or  <root>/data/clips/NNNNN.mp4

The first of these clip locations that exists is used, per clip.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd
from pydantic import Field

from hdfbench.data.base import DATASETS
from hdfbench.data.filedataset import FileDataset, FileOptions, split_rows
from hdfbench.data.media import resolve_clip
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
CLIP_FOLDERS = ("data/frames", "data/faces", "data/clips")


class MAFWOptions(FileOptions):
    """Options of the MAFW loader."""

    root: LocalPath = Field(description="folder holding split/ and data/")


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

    def clip_base(self, clip_id: str) -> Path:
        bases = [self.root / folder / clip_id for folder in CLIP_FOLDERS]
        return next((b for b in bases if resolve_clip(b) is not None), bases[0])
