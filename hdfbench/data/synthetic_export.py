"""Writing the synthetic benchmark in a real dataset's released layout (``hdfbench synth``).

So the file-backed path (split files, JPEG frames, decoding, cache, sampling) runs end to end
without the real data. Formats are registered by name in ``EXPORTERS``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Callable

import numpy as np
import pandas as pd
from PIL import Image

from hdfbench.data.base import default_cache_dir
from hdfbench.data.synthetic import SyntheticDFER, SyntheticOptions
from hdfbench.registry import Registry

#: format name → function(options, out_dir, cache_dir, frames_dir) → number of clips written.
EXPORTERS: Registry[Callable[..., int]] = Registry("export format")


def synthetic_clips(opts: SyntheticOptions, cache_dir: Path | None = None) -> tuple[pd.DataFrame, np.ndarray]:
    """Return the metadata table (with ``fold``) and the uint8 clips of the synthetic benchmark."""
    dataset = SyntheticDFER(opts, cache_dir or default_cache_dir())
    dataset.prepare()
    table = dataset.table()
    return table, np.load(dataset.data_dir / "clips.npy", mmap_mode="r")


@EXPORTERS.register("dfew")
def export_dfew(opts: SyntheticOptions, out: Path, cache_dir: Path | None = None, frames_dir: str = "all") -> int:
    """Write a DFEW tree: ``Clip/clip_224x224[_16f]/<id>/<id>_<k>.jpg``, 5-fold split CSVs, metadata.csv.

    Clip i (0-based) gets DFEW id i + 1; labels are written 1..7; the synthetic folds become the
    ``set_<k>`` test sets. Returns the number of clips written.
    """
    table, clips = synthetic_clips(opts, cache_dir)
    folder = out / "Clip" / ("clip_224x224_16f" if frames_dir == "16f" else "clip_224x224")
    ids = np.arange(1, len(table) + 1)
    for i, clip in zip(ids, clips):
        clip_dir = folder / f"{i:05d}"
        clip_dir.mkdir(parents=True, exist_ok=True)
        for k, frame in enumerate(clip, start=1):
            Image.fromarray(frame).save(clip_dir / f"{i:05d}_{k:05d}.jpg", quality=95)
    rows = pd.DataFrame({"video_name": ids, "label": table["label"].to_numpy() + 1, "fold": table["fold"]})
    for part in ("train", "test"):
        split_dir = out / "EmoLabel_DataSplit" / f"{part}(single-labeled)"
        split_dir.mkdir(parents=True, exist_ok=True)
        for fold in range(1, 6):
            chosen = rows[(rows["fold"] == fold) == (part == "test")]
            chosen[["video_name", "label"]].to_csv(split_dir / f"set_{fold}.csv", index=False)
    meta = table[["source", "subject", "hard", "noisy_label"]].assign(video_name=[f"{i:05d}" for i in ids])
    meta.to_csv(out / "metadata.csv", index=False)
    return len(table)
