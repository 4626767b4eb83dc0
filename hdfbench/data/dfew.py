"""``dfew``: DFEW (Jiang et al., ACM MM 2020), 7 classes, 5 folds.

Only the options and the checks of the data root exist so far; reading the released layout
(frames, split CSVs, caching) is the datasets issue (#4). Until then a sweep naming ``dfew``
validates but stops before training with a message saying what is missing.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field

from hdfbench.config_base import StrictModel
from hdfbench.data.base import DATASETS, DataError, Dataset

DFEW_CLASSES = ("Happy", "Sad", "Neutral", "Angry", "Surprise", "Disgust", "Fear")


class DFEWOptions(StrictModel):
    """Options of the DFEW loader."""

    root: str = Field(description="folder holding Clip/ and EmoLabel_DataSplit/")
    frames_dir: Literal["16f", "all"] = "16f"
    frames: int = Field(16, ge=1)
    size: int = Field(112, ge=16)


@DATASETS.register("dfew")
class DFEW(Dataset):
    """DFEW single-labelled clips (11,697) in the official 5-fold protocol."""

    Options = DFEWOptions
    classes = DFEW_CLASSES
    folds = (1, 2, 3, 4, 5)

    def prepare(self) -> None:
        root = Path(self.options.root).expanduser()
        if not root.is_dir():
            raise DataError(
                f"DFEW data root '{root}' does not exist (datasets[].options.root); download DFEW and point "
                "root at the folder holding Clip/ and EmoLabel_DataSplit/"
            )
        raise DataError(f"DFEW data found at '{root}', but the DFEW loader is not available yet (issue #4)")

    @classmethod
    def smoke_options(cls, options: dict) -> dict:
        return {**options, "frames": 4, "size": 32}
