"""Mini-batches of clips: uint8 on the host, normalised float (B, 3, T, H, W) on the device that trains.

Batches travel as uint8 (B, T, H, W, 3) — a quarter of the bytes of float32, page-locked when
``pin_memory`` — and ``to_device`` turns them into normalised float clips where they are used. The
order of an epoch's clips is a pure function of (seed, epoch) (``EpochSampler``), and each index
carries its epoch, so DataLoader workers that persist across epochs draw the same augmentations as
a fresh loader would, and a resumed run sees the same batches as an uninterrupted one.
With ``augment_on="device"`` the loader only reads clips and draws their augmentation parameters;
``to_device`` applies them, batched, after the move (the same clips to rounding; docs/performance.md).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any, Literal

import numpy as np
import pandas as pd
import torch
from torch.utils.data import DataLoader, Sampler

from hdfbench.data.batch import Batch
from hdfbench.data.clips import MemoryClips
from hdfbench.data.groups import field_codes
from hdfbench.data.transforms import apply_augment

#: Where training augmentation runs: in the loader (its workers), or on the device that trains.
AugmentSite = Literal["loader", "device"]

#: Kinetics mean and std (pytorchvideo's X3D recipes), per RGB channel.
MEAN = torch.tensor([0.45, 0.45, 0.45]).view(1, 3, 1, 1, 1)
STD = torch.tensor([0.225, 0.225, 0.225]).view(1, 3, 1, 1, 1)


def to_float_clips(clips: np.ndarray | torch.Tensor) -> torch.Tensor:
    """Return uint8 clips (B, T, H, W, 3) as normalised float32 (B, 3, T, H, W) on the clips' device."""
    x = torch.as_tensor(clips).permute(0, 4, 1, 2, 3).float().div_(255.0)
    return (x - MEAN.to(x.device)) / STD.to(x.device)


def resolve_augment_on(setting: Literal["auto", "loader", "device"], device: torch.device) -> AugmentSite:
    """Return where training augmentation runs for ``training.augment_on``: auto is the device on CUDA,
    else the loader."""
    if setting != "auto":
        return setting
    return "device" if device.type == "cuda" else "loader"


def to_device(batch: Batch, device: torch.device) -> Batch:
    """Return ``batch`` on ``device`` with the augmentation it carries applied there, and its uint8 clips
    normalised there (float clips are only moved)."""
    moved = batch.to(device)
    if moved.augment is not None:
        moved.clips, moved.augment = apply_augment(moved.clips, moved.augment), None
    if moved.clips.dtype == torch.uint8:
        moved.clips = to_float_clips(moved.clips)
    return moved


class ClipSet(torch.utils.data.Dataset):
    """Clips with labels and integer metadata codes (``codes``: each field's values in code order, see
    ``data.groups.field_values``); fetched a whole batch at a time as uint8.

    ``clips`` is a uint8 array (N, T, H, W, 3) or a clip array (``Dataset.clip_array``) indexed the
    same way. Indices may be plain positions or ``(epoch, position)`` pairs from ``EpochSampler``;
    the epoch (with ``seed``) selects a clip array's random draws, in whichever process reads it.
    ``augment_on="device"`` yields training clips unaugmented, with the parameters ``to_device``
    applies (``Batch.augment``).
    """

    def __init__(
        self,
        clips,
        table: pd.DataFrame,
        codes: dict[str, list[str]],
        seed: int = 0,
        augment_on: AugmentSite = "loader",
    ):
        self.clips = MemoryClips(clips) if isinstance(clips, np.ndarray) else clips
        self.seed, self.augment_on = seed, augment_on
        self.labels = torch.tensor(table["label"].to_numpy(), dtype=torch.long)
        self.groups = {field: torch.tensor(code) for field, code in field_codes(table, codes).items()}

    def __len__(self) -> int:
        return len(self.labels)

    def __getitems__(self, indices: list) -> Batch:
        """Return the batch of clips at ``indices`` (positions or ``(epoch, position)`` pairs)."""
        if indices and isinstance(indices[0], tuple):
            self.clips.set_epoch(self.seed, indices[0][0])
            indices = [i for _, i in indices]
        index = np.asarray(indices)
        clips, augment = self.clips.unaugmented(index) if self.augment_on == "device" else (self.clips[index], None)
        return Batch(
            torch.from_numpy(np.ascontiguousarray(clips)),
            self.labels[index],
            {k: v[index] for k, v in self.groups.items()},
            torch.from_numpy(index),
            augment,
        )


class EpochSampler(Sampler):
    """The ``(epoch, index)`` pairs of one epoch, a pure function of ``seed + epoch``.

    ``shuffle`` draws a permutation; ``balanced`` draws len(groups) clips with replacement with every
    group of ``groups`` (one id per clip: the labels for class balance, or ``data.groups.Grouper``
    ids) equally likely; otherwise the order is the table's. The draws are those a fresh
    ``DataLoader(shuffle=True, generator=torch.Generator().manual_seed(seed))`` or
    ``WeightedRandomSampler`` with that generator made, so orders match earlier releases. ``limit``
    keeps the first ``limit`` indices (steps per epoch × batch size).
    """

    def __init__(
        self, groups: torch.Tensor, seed: int, shuffle: bool = True, balanced: bool = False, limit: int | None = None
    ):
        self.groups, self.seed, self.shuffle, self.balanced = groups, seed, shuffle, balanced
        self.limit = min(limit, len(groups)) if limit is not None else len(groups)
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        """Select the epoch whose order the next iteration yields."""
        self.epoch = epoch

    def __len__(self) -> int:
        return self.limit

    def order(self, epoch: int) -> torch.Tensor:
        """Return the indices of ``epoch`` (before ``limit``)."""
        n = len(self.groups)
        generator = torch.Generator().manual_seed(self.seed + epoch)
        if self.balanced:
            weights = (1.0 / torch.bincount(self.groups).double().clamp_min(1))[self.groups]
            return torch.multinomial(weights, n, replacement=True, generator=generator)
        if not self.shuffle:
            return torch.arange(n)
        torch.empty((), dtype=torch.int64).random_(generator=generator)  # the draw DataLoader took for its workers
        return torch.randperm(n, generator=generator)

    def __iter__(self) -> Iterator[tuple[int, int]]:
        epoch = self.epoch
        return ((epoch, i) for i in self.order(epoch)[: self.limit].tolist())


def make_loader(
    dataset: ClipSet,
    batch_size: int,
    shuffle: bool,
    seed: int,
    num_workers: int = 0,
    drop_last: bool = False,
    balance_ids: torch.Tensor | None = None,
    limit: int | None = None,
    pin_memory: bool = False,
    persistent_workers: bool = False,
    prefetch_factor: int = 2,
) -> DataLoader:
    """Return a DataLoader of uint8 ``Batch`` objects whose ``sampler`` is an ``EpochSampler``.

    ``balance_ids`` (one group id per clip) makes every group equally likely in every batch.
    Epoch e uses the seed ``seed + e``; call ``loader.sampler.set_epoch(e)`` before iterating it.
    Worker settings apply only with ``num_workers`` > 0.
    """
    groups = dataset.labels if balance_ids is None else balance_ids
    sampler = EpochSampler(groups, seed, shuffle, balance_ids is not None, limit)
    workers: dict[str, Any] = {}
    if num_workers:
        workers = {"persistent_workers": persistent_workers, "prefetch_factor": prefetch_factor}
    return DataLoader(
        dataset,
        batch_size=batch_size,
        sampler=sampler,
        num_workers=num_workers,
        drop_last=drop_last,
        collate_fn=_as_is,
        pin_memory=pin_memory,
        generator=torch.Generator().manual_seed(seed),
        **workers,
    )


def _as_is(batch: Any) -> Any:
    """Return the ``Batch`` that ``ClipSet.__getitems__`` built (DataLoader's types promise a list)."""
    return batch
