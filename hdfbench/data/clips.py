"""Clip arrays: what the trainer indexes to get uint8 batches (B, T, H, W, 3) of one split.

``MemoryClips`` wraps clips already in memory (the synthetic benchmark). ``CachedClips`` reads
each clip from the on-disk cache when indexed, samples T frames (TSN segments: a random frame per
segment for training, segment centres otherwise) and augments training clips; nothing is held in
memory between batches. Training draws depend only on (seed, epoch, row), so a resumed run, a
different batch order or worker processes see the same clips. ``unaugmented`` returns the sampled
clips with their drawn augmentation parameters instead, for the device that trains to apply.
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Protocol

import numpy as np

from hdfbench.data.cache import ClipCache
from hdfbench.data.media import read_clip
from hdfbench.data.sampling import clip_rng, segment_indices
from hdfbench.data.transforms import AugmentOptions, AugmentParams, augment_batch, draw_params


class ClipArray(Protocol):
    """What the trainer indexes: a clip count, the clips at ``index`` (positions or a slice) as uint8
    (B, T, H, W, 3), the same clips before augmentation with its parameters (``unaugmented``), and
    ``set_epoch(seed, epoch)`` selecting the random draws of training clips, and ``temporal_view(j, k)``, the
    same clips sampled at the j-th of k evaluation positions in time."""

    def __len__(self) -> int: ...

    def __getitem__(self, index) -> np.ndarray: ...

    def unaugmented(self, index) -> tuple[np.ndarray, AugmentParams | None]: ...

    def set_epoch(self, seed: int, epoch: int) -> None: ...

    def temporal_view(self, view: int, views: int) -> ClipArray: ...


def _positions(index) -> np.ndarray:
    return np.asarray(index).reshape(-1)


class MemoryClips:
    """Clips held in a uint8 array (N, T, H, W, 3); the same clips every epoch."""

    def __init__(self, array: np.ndarray):
        self.array = array

    def __len__(self) -> int:
        return len(self.array)

    def __getitem__(self, index) -> np.ndarray:
        """Return the clips at ``index`` (positions or a slice) as uint8 (B, T, H, W, 3)."""
        return self.array[index]

    def unaugmented(self, index) -> tuple[np.ndarray, AugmentParams | None]:
        """Return the clips at ``index`` and None: in-memory clips are not augmented."""
        return self.array[index], None

    def set_epoch(self, seed: int, epoch: int) -> None:
        """Do nothing: in-memory clips are fixed."""

    def temporal_view(self, view: int, views: int) -> MemoryClips:
        """Return these clips: they hold only the T frames that were sampled, so every temporal view is them."""
        return self


class CachedClips:
    """The clips of one table read lazily from a ``ClipCache`` (filled from ``sources`` on a miss)."""

    def __init__(
        self,
        cache: ClipCache,
        clip_ids: list[str],
        sources: list[str],
        frames: int,
        size: int,
        cap: int | None,
        train_augment: AugmentOptions | None = None,
        train: bool = False,
    ):
        self.cache, self.clip_ids, self.sources = cache, list(clip_ids), list(sources)
        self.frames, self.size, self.cap = frames, size, cap
        self.train, self.augment = train, train_augment
        self.seed, self.epoch = 0, 0
        self.view, self.views = 0, 1

    def __len__(self) -> int:
        return len(self.clip_ids)

    def set_epoch(self, seed: int, epoch: int) -> None:
        """Select the random draws of training clips for (seed, epoch)."""
        self.seed, self.epoch = seed, epoch

    def temporal_view(self, view: int, views: int) -> CachedClips:
        """Return a copy of these evaluation clips that samples each segment at (view + ½) / views."""
        if self.train:
            raise ValueError("training clips are sampled at random: they have no temporal views")
        other = copy.copy(self)
        other.view, other.views = view, views
        return other

    def __getitem__(self, index) -> np.ndarray:
        """Return the clips at ``index`` (positions or a slice) as uint8 (B, T, size, size, 3).

        Cached frames are already ``size``², so only training augmentation changes them further.
        """
        sampled, draws = self._sample(index)
        return self._stack(sampled) if draws is None else augment_batch(sampled, self.size, *draws)

    def unaugmented(self, index) -> tuple[np.ndarray, AugmentParams | None]:
        """Return the clips at ``index`` as ``__getitem__`` does but before augmentation, uint8
        (B, T, size, size, 3), and the augmentation parameters they draw (None for clips not augmented)."""
        sampled, draws = self._sample(index)
        shapes = [(c.shape[1], c.shape[2]) for c in sampled]
        return self._stack(sampled), None if draws is None else draw_params(shapes, self.size, *draws)

    def _sample(self, index) -> tuple[list[np.ndarray], tuple[AugmentOptions, list[np.random.Generator]] | None]:
        """Return the TSN-sampled frames of the clips at ``index`` and, if they are augmented training
        clips, the augmentation and the per-clip generators that draw it next (else None)."""
        rows = np.arange(len(self))[index] if isinstance(index, slice) else _positions(index)
        rngs = [clip_rng(self.seed, self.epoch, int(row)) for row in rows] if self.train else None
        sampled = [self.sampled(int(row), None if rngs is None else rngs[k]) for k, row in enumerate(rows)]
        if rngs is None or self.augment is None or not self.augment.enabled or not sampled:
            return sampled, None
        return sampled, (self.augment, rngs)

    def _stack(self, clips: list[np.ndarray]) -> np.ndarray:
        """Return the sampled ``clips`` as one uint8 array (B, T, size, size, 3)."""
        out = np.empty((len(clips), self.frames, self.size, self.size, 3), dtype=np.uint8)
        for k, clip in enumerate(clips):
            out[k] = clip
        return out

    def cached_frames(self, row: int) -> np.ndarray:
        """Return every cached frame of clip ``row`` (decoding and caching it first on a miss)."""
        clip_id = self.clip_ids[row]
        if not self.cache.has(clip_id):
            self.cache.write(clip_id, read_clip(Path(self.sources[row]), self.size, self.cap))
        return self.cache.read(clip_id)

    def sampled(self, row: int, rng: np.random.Generator | None) -> np.ndarray:
        """Return the T frames of clip ``row`` picked by TSN sampling (random with ``rng``, else this array's
        temporal view: the segment centres for one view)."""
        frames = self.cached_frames(row)
        return np.asarray(frames[segment_indices(len(frames), self.frames, rng, self.view, self.views)])
