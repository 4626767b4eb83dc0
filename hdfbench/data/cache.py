"""The on-disk clip cache: decoded, resized uint8 frames, one memory-mappable ``.npy`` per clip.

Layout: ``<cache_dir>/<dataset>/<key>/params.json`` and ``<key>/clips/<clip>.npy`` of shape
(n, size, size, 3), where ``key`` hashes the dataset, the data root and every preprocessing
parameter, so changing one of them reads and fills a fresh folder (the old one is left alone).
Writes go to a unique temporary file renamed into place, so concurrent Ray trials filling the same
clip never expose a partial file; the last rename wins and all copies are identical.
``<key>/frame_counts.json`` remembers the frame count of each video file (keyed by its size and
modification time), so later scans of the same data (every Ray trial's) do not open every video.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
from pathlib import Path

import numpy as np

from hdfbench.fileio import atomic_write, atomic_write_json

log = logging.getLogger(__name__)

#: Bump when the decoding or the file format changes, so stale caches are not reused.
CACHE_VERSION = 1


def cache_key(params: dict) -> str:
    """Return the short hash naming the cache folder of ``params``."""
    payload = json.dumps({"v": CACHE_VERSION, **params}, sort_keys=True, default=str)
    return hashlib.sha256(payload.encode()).hexdigest()[:16]


def _file_name(clip_id: str) -> str:
    safe = clip_id.replace("/", "__").replace("\\", "__")
    return f"{safe}.npy"


class ClipCache:
    """The cache folder of one dataset and one set of preprocessing parameters."""

    def __init__(self, root: Path, dataset: str, params: dict):
        self.params = params
        self.dir = Path(root) / dataset / cache_key(params)
        self.clips_dir = self.dir / "clips"

    def path(self, clip_id: str) -> Path:
        """Return the cache file of ``clip_id`` (it may not exist yet)."""
        return self.clips_dir / _file_name(clip_id)

    def has(self, clip_id: str) -> bool:
        """Return whether ``clip_id`` is cached in a complete file; a damaged one (zero bytes, cut short,
        not a uint8 clip array) is named in a warning and removed, so the clip is decoded again."""
        path = self.path(clip_id)
        if not path.exists():
            return False
        problem = npy_problem(path)
        if problem:
            log.warning("clip cache: %s is damaged (%s); removed, the clip is decoded again", path, problem)
            path.unlink(missing_ok=True)
            return False
        return True

    def read(self, clip_id: str) -> np.ndarray:
        """Return the cached frames of ``clip_id`` as a read-only memory map (n, size, size, 3)."""
        return np.load(self.path(clip_id), mmap_mode="r")

    def write(self, clip_id: str, frames: np.ndarray) -> None:
        """Store ``frames`` for ``clip_id`` atomically (temporary file, then rename)."""
        params_file = self.dir / "params.json"
        if not params_file.exists():
            atomic_write_json(params_file, self.params)
        atomic_write(self.path(clip_id), lambda tmp: _save_npy(tmp, frames))

    @property
    def frame_counts_file(self) -> Path:
        """Return the file remembering video frame counts: {path: [size, mtime_ns, n_frames]}."""
        return self.dir / "frame_counts.json"

    def read_frame_counts(self) -> dict[str, list[int]]:
        """Return the remembered video frame counts (empty if none, or if the file is unreadable)."""
        try:
            return json.loads(self.frame_counts_file.read_text())
        except (OSError, ValueError):
            return {}

    def write_frame_counts(self, counts: dict[str, list[int]]) -> None:
        """Store the video frame counts atomically (concurrent writers: the last complete one wins)."""
        atomic_write_json(self.frame_counts_file, counts)


def _save_npy(path: Path, frames: np.ndarray) -> None:
    with open(path, "wb") as f:  # a file object: np.save would append ".npy" to a temporary name
        np.save(f, np.ascontiguousarray(frames, dtype=np.uint8))


def npy_problem(path: Path) -> str | None:
    """Return what is wrong with a cached clip file (header, dtype, rank, length), or None if it is whole.

    Reads the header only: the file must hold a uint8 (n, size, size, 3) array of exactly the length
    its header promises.
    """
    try:
        with open(path, "rb") as f:
            version = np.lib.format.read_magic(f)
            read_header = (
                np.lib.format.read_array_header_1_0 if version == (1, 0) else np.lib.format.read_array_header_2_0
            )
            shape, _, dtype = read_header(f)
            expected = f.tell() + int(np.prod(shape)) * dtype.itemsize
            size = os.fstat(f.fileno()).st_size
    except (OSError, ValueError, EOFError) as exc:
        return f"unreadable header: {exc}" if str(exc) else "unreadable header"
    if dtype != np.uint8 or len(shape) != 4 or shape[-1] != 3:
        return f"holds {dtype} {shape}, not uint8 frames"
    if size != expected:
        return f"{size} bytes where its header promises {expected}"
    return None
