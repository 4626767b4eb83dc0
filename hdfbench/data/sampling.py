"""Temporal sampling of T frames from a clip of n frames (TSN-style segments)."""

from __future__ import annotations

import numpy as np


def segment_indices(
    n: int, t: int, rng: np.random.Generator | None = None, view: int = 0, views: int = 1
) -> np.ndarray:
    """Return ``t`` frame indices into a clip of ``n`` frames.

    The clip is cut into ``t`` equal segments; training (``rng`` given) takes a random frame in each
    segment, evaluation (``rng`` None) takes each segment's centre. With ``views`` > 1 evaluation clips,
    view j takes the frame at (j + ½) / views of each segment instead (one temporal view: the centre, as
    ever). Clips shorter than ``t`` keep all their frames and repeat the last one (edge padding).
    """
    if n <= 0:
        raise ValueError("a clip needs at least one frame")
    if not 0 <= view < views:
        raise ValueError(f"temporal view {view} of {views} does not exist")
    if n < t:
        return np.concatenate([np.arange(n), np.full(t - n, n - 1)])
    edges = np.linspace(0.0, n, t + 1)
    lo = np.floor(edges[:-1]).astype(int)
    hi = np.maximum(lo + 1, np.floor(edges[1:]).astype(int))
    if rng is None:  # for views == 1 this is (lo + hi - 1) // 2, the centre frame of every release
        return lo + ((2 * view + 1) * (hi - lo) - 1) // (2 * views)
    return rng.integers(lo, hi)


def clip_rng(seed: int, epoch: int, row: int) -> np.random.Generator:
    """Return the generator of one clip in one epoch: independent of batch order and worker processes."""
    return np.random.default_rng([seed, epoch, row])
