"""``ferv39k``: FERV39k (Wang et al., CVPR 2022), 38,935 clips in 22 scenes, 7 classes, one split.

Layout (see docs/datasets.md)::

    <root>/4_setups/All_scenes/train_All.csv     no header, space-separated: Scene/Class/NNNN ClassName
    <root>/4_setups/All_scenes/test_All.csv
    <root>/2_ClipsforFaceCrop/<Scene>/<Class>/<NNNN>/   frames (or <NNNN>.mp4)

The 4-digit ids repeat across folders, so the clip id is the full ``Scene/Class/NNNN`` path. The
scene is a metadata field usable as a group. The single official split is reported as fold 1.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd
from pydantic import Field

from hdfbench.data.base import DATASETS
from hdfbench.data.filedataset import FileDataset, FileOptions, split_rows
from hdfbench.schema import LocalPath

FERV39K_CLASSES = ("Happy", "Sad", "Neutral", "Angry", "Surprise", "Disgust", "Fear")


class FERV39kOptions(FileOptions):
    """Options of the FERV39k loader."""

    root: LocalPath = Field(description="folder holding 2_ClipsforFaceCrop/ and 4_setups/")


@DATASETS.register("ferv39k")
class FERV39k(FileDataset):
    """FERV39k face-cropped clips, the All_scenes split (31,088 train / 7,847 test), scene metadata."""

    Options = FERV39kOptions
    classes = FERV39K_CLASSES
    folds = (1,)
    group_fields = ("scene",)

    def split_file(self, fold: int, part: str) -> Path:
        return self.root / "4_setups" / "All_scenes" / f"{part}_All.csv"

    def read_split(self, path: Path) -> pd.DataFrame:
        rows = [
            (clip, label, number, clip.split("/")[0])
            for number, clip, label in split_rows(
                path, "Scene/Class/NNNN ClassName", valid=lambda clip: clip.count("/") == 2
            )
        ]
        return pd.DataFrame(rows, columns=["clip_id", "raw_label", "line", "scene"])

    def clip_base(self, clip_id: str) -> Path:
        return self.root / "2_ClipsforFaceCrop" / clip_id
