"""Miniature but faithful dataset trees: the real split files (a subset of ids), tiny generated frames.

Frame k of a clip (1-based) is a flat grey image of value ``grey(k)``, so frame order can be read
back from decoded pixels. Videos are real mp4 files encoded with PyAV.
"""

from __future__ import annotations

import io
from functools import lru_cache
from pathlib import Path

import av
import numpy as np
from PIL import Image

#: The real split files (copied from the project's shared reference data; lists only, no frames).
SPLIT_FILES = Path(__file__).resolve().parents[1] / "fixtures" / "splits"
DFEW_SPLITS = SPLIT_FILES / "dfew" / "EmoLabel_DataSplit"
FERV_SPLITS = SPLIT_FILES / "ferv39k" / "4_setups" / "All_scenes"
MAFW_SPLITS = SPLIT_FILES / "mafw" / "split" / "single" / "no_caption"


def grey(k: int) -> int:
    """Return the grey value of frame k (1-based)."""
    return min(255, 12 * k)


@lru_cache(maxsize=None)
def jpeg_bytes(value: int, size: int = 8) -> bytes:
    """Return a flat grey JPEG of side ``size``."""
    buffer = io.BytesIO()
    Image.fromarray(np.full((size, size, 3), value, np.uint8)).save(buffer, format="JPEG", quality=95)
    return buffer.getvalue()


def write_frames(folder: Path, n: int, naming: str = "dfew", clip: int = 1) -> None:
    """Write n frames: ``00001_00003.jpg`` (dfew naming) or ``3.jpg`` (plain), 1-based."""
    folder.mkdir(parents=True, exist_ok=True)
    for k in range(1, n + 1):
        name = f"{clip:05d}_{k:05d}.jpg" if naming == "dfew" else f"{k}.jpg"
        (folder / name).write_bytes(jpeg_bytes(grey(k)))


def write_mp4(path: Path, n: int, size: int = 16) -> None:
    """Encode an n-frame mp4 whose frame k is flat grey ``grey(k)``."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with av.open(str(path), "w") as container:
        stream = container.add_stream("mpeg4", rate=10)
        stream.width = stream.height = size
        stream.pix_fmt = "yuv420p"
        for k in range(1, n + 1):
            frame = av.VideoFrame.from_ndarray(np.full((size, size, 3), grey(k), np.uint8), format="rgb24")
            container.mux(stream.encode(frame))
        container.mux(stream.encode())


def n_frames_of(clip_number: int) -> int:
    """Return the frame count of a generated clip: 3..22, varying with the id (some shorter than T)."""
    return 3 + clip_number % 20


def dfew_tree(
    root: Path,
    keep=lambda i: i % 100 == 1,
    frames_dir: str = "clip_224x224",
    spelling: str = "single-labeled",
    nested: bool = False,
    write=True,
) -> set[int]:
    """Write a DFEW tree with the real split rows whose id passes ``keep``; return the kept ids."""
    ids: set[int] = set()
    for part in ("train", "test"):
        for fold in range(1, 6):
            lines = (DFEW_SPLITS / f"{part}(single-labeled)" / f"set_{fold}.csv").read_text().splitlines()
            rows = [line for line in lines[1:] if keep(int(line.split(",")[0]))]
            ids |= {int(r.split(",")[0]) for r in rows}
            out = root / "EmoLabel_DataSplit" / f"{part}({spelling})" / f"set_{fold}.csv"
            out.parent.mkdir(parents=True, exist_ok=True)
            out.write_text("\n".join([lines[0], *rows]) + "\n")
    clips = root / "Clip" / frames_dir
    clips = clips / frames_dir if nested else clips
    clips.mkdir(parents=True, exist_ok=True)
    if write:
        for i in sorted(ids):
            write_frames(clips / f"{i:05d}", n_frames_of(i), "dfew" if i % 2 else "plain", clip=i)
    return ids


def ferv39k_tree(root: Path, n: int = 40) -> list[str]:
    """Write a FERV39k tree with the first ``n`` rows of each real split file; return the clip paths."""
    paths = []
    for part in ("train", "test"):
        lines = (FERV_SPLITS / f"{part}_All.csv").read_text().splitlines()[:n]
        out = root / "4_setups" / "All_scenes" / f"{part}_All.csv"
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text("\n".join(lines) + "\n")
        paths += [line.split()[0] for line in lines]
    for k, path in enumerate(paths):
        write_frames(root / "2_ClipsforFaceCrop" / path, 4 + k % 5, "plain")
    return paths


def mafw_tree(
    root: Path, keep=lambda i: i % 100 == 1, videos: int = 3, folder: str = "faces"
) -> tuple[set[int], set[int]]:
    """Write a MAFW tree (real split rows passing ``keep``) with its clips in ``data/<folder>``; the first
    ``videos`` clips are mp4 files there.

    Returns (all kept ids, ids stored as mp4).
    """
    ids: set[int] = set()
    for part in ("train", "test"):
        for fold in range(1, 6):
            lines = (MAFW_SPLITS / f"set_{fold}" / f"{part}.txt").read_text().splitlines()
            rows = [line for line in lines if keep(int(line[:5]))]
            ids |= {int(r[:5]) for r in rows}
            out = root / "split" / "single" / "no_caption" / f"set_{fold}" / f"{part}.txt"
            out.parent.mkdir(parents=True, exist_ok=True)
            out.write_text("\n".join(rows) + "\n")
    as_video = set(sorted(ids)[:videos])
    for i in sorted(ids):
        if i in as_video:
            write_mp4(root / "data" / folder / f"{i:05d}.mp4", n_frames_of(i))
        else:
            write_frames(root / "data" / folder / f"{i:05d}", n_frames_of(i), "plain")
    return ids, as_video
