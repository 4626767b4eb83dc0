"""Reading clips from disk: frame folders (JPEG/PNG, numeric order) and video files (PyAV).

Every function raises ``MediaError`` with the offending file in the message when a clip cannot be
read, so callers can collect bad clips instead of stopping at the first one.
"""

from __future__ import annotations

import re
from pathlib import Path

import av
import numpy as np
from PIL import Image

from hdfbench.data.errors import MediaError

IMAGE_EXTS = (".jpg", ".jpeg", ".png", ".bmp")
VIDEO_EXTS = (".mp4", ".avi", ".mov", ".mkv", ".webm", ".m4v")
_LAST_NUMBER = re.compile(r"(\d+)(?!.*\d)")


def frame_number(path: Path) -> int:
    """Return the frame index encoded by the last number of a file stem (``00001_00012`` → 12)."""
    match = _LAST_NUMBER.search(path.stem)
    return int(match.group(1)) if match else -1


def list_frames(folder: Path) -> list[Path]:
    """Return the image files of ``folder`` in numeric frame order (``2.jpg`` before ``10.jpg``)."""
    files = [p for p in folder.iterdir() if p.suffix.lower() in IMAGE_EXTS and not p.name.startswith(".")]
    return sorted(files, key=lambda p: (frame_number(p), p.name))


def is_video(path: Path) -> bool:
    """Return whether ``path`` names a video file (by extension)."""
    return path.suffix.lower() in VIDEO_EXTS


def resolve_clip(base: Path) -> Path | None:
    """Return the frame folder ``base`` or a video file ``base.<ext>`` next to it; None if neither exists."""
    if base.is_dir():
        return base
    for ext in VIDEO_EXTS:
        candidate = base.with_name(base.name + ext)
        if candidate.is_file():
            return candidate
    return base if base.is_file() and is_video(base) else None


def count_frames(path: Path) -> int:
    """Return the number of frames of a frame folder or video file; raise ``MediaError`` if there are none."""
    if path.is_dir():
        n = len(list_frames(path))
        if n == 0:
            raise MediaError(f"clip folder {path} holds no image frames ({', '.join(IMAGE_EXTS)})")
        return n
    try:
        with av.open(str(path)) as container:
            if not container.streams.video:
                raise MediaError(f"video {path} has no video stream, so no decodable frames")
            stream = container.streams.video[0]
            n = stream.frames or sum(1 for _ in container.decode(stream))
    except (av.FFmpegError, OSError) as exc:
        raise MediaError(f"cannot read video {path}: {exc}") from None
    if n == 0:
        raise MediaError(f"video {path} has no decodable frames")
    return n


def pick(n: int, cap: int | None) -> np.ndarray:
    """Return up to ``cap`` frame indices spread uniformly over ``n`` frames (all of them if n <= cap)."""
    if cap is None or n <= cap:
        return np.arange(n)
    return np.unique(np.linspace(0, n - 1, cap).round().astype(int))


def _to_square(image: Image.Image, size: int) -> np.ndarray:
    image.draft("RGB", (size, size))  # JPEG: decode at a reduced scale when much larger than size
    return np.asarray(image.convert("RGB").resize((size, size), Image.Resampling.BILINEAR))


def read_image(path: Path, size: int) -> np.ndarray:
    """Return one image resized to uint8 (size, size, 3); raise ``MediaError`` if it is corrupt."""
    try:
        with Image.open(path) as image:
            return _to_square(image, size)
    except (OSError, Image.DecompressionBombError, SyntaxError) as exc:
        raise MediaError(f"corrupt image {path}: {exc}") from None


def read_folder(folder: Path, size: int, cap: int | None = None) -> np.ndarray:
    """Return the frames of a folder (at most ``cap``, spread uniformly) as uint8 (n, size, size, 3)."""
    files = list_frames(folder)
    if not files:
        raise MediaError(f"clip folder {folder} holds no image frames ({', '.join(IMAGE_EXTS)})")
    return np.stack([read_image(files[i], size) for i in pick(len(files), cap)])


def read_video(path: Path, size: int, cap: int | None = None) -> np.ndarray:
    """Return the frames of a video file (at most ``cap``, spread uniformly) as uint8 (n, size, size, 3)."""
    frames = []
    try:
        with av.open(str(path)) as container:
            for frame in container.decode(video=0):
                frames.append(frame.to_image())
    except (av.FFmpegError, OSError) as exc:
        if not frames:
            raise MediaError(f"corrupt video {path}: {exc}") from None
        # a truncated tail still yields the frames decoded before it; keep them
    if not frames:
        raise MediaError(f"video {path} has no decodable frames")
    return np.stack([_to_square(frames[i], size) for i in pick(len(frames), cap)])


def read_clip(path: Path, size: int, cap: int | None = None) -> np.ndarray:
    """Return a clip (frame folder or video file) as uint8 (n, size, size, 3), n <= cap."""
    return read_folder(path, size, cap) if path.is_dir() else read_video(path, size, cap)
