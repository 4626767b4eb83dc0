"""Mini-batches from uint8 clip arrays: normalised float clips (B, 3, T, H, W), labels, group codes."""

from __future__ import annotations

import numpy as np
import pandas as pd
import torch
from torch.utils.data import DataLoader, WeightedRandomSampler

from hdfbench.strategies.base import Batch

#: Kinetics mean and std (pytorchvideo's X3D recipes), per RGB channel.
MEAN = torch.tensor([0.45, 0.45, 0.45]).view(1, 3, 1, 1, 1)
STD = torch.tensor([0.225, 0.225, 0.225]).view(1, 3, 1, 1, 1)


def to_float_clips(clips: np.ndarray | torch.Tensor) -> torch.Tensor:
    """Return uint8 clips (B, T, H, W, 3) as normalised float32 (B, 3, T, H, W)."""
    x = torch.as_tensor(clips).permute(0, 4, 1, 2, 3).float().div_(255.0)
    return (x - MEAN) / STD


def group_codes(tables: list[pd.DataFrame], fields: tuple[str, ...]) -> dict[str, list[str]]:
    """Return, per metadata field, the sorted list of its values over all ``tables`` (code = index)."""
    return {f: sorted({str(v) for t in tables for v in t[f]}) for f in fields}


class ClipSet(torch.utils.data.Dataset):
    """Clips with labels and integer group codes; fetched a whole batch at a time.

    ``clips`` is a uint8 array (N, T, H, W, 3) or a clip array (``Dataset.clip_array``) indexed the same way.
    """

    def __init__(self, clips, table: pd.DataFrame, codes: dict[str, list[str]]):
        self.clips = clips
        self.labels = torch.tensor(table["label"].to_numpy(), dtype=torch.long)
        self.groups = {
            field: torch.tensor(table[field].astype(str).map({v: i for i, v in enumerate(values)}).to_numpy())
            for field, values in codes.items()
        }

    def __len__(self) -> int:
        return len(self.labels)

    def __getitems__(self, indices: list[int]) -> Batch:
        index = np.asarray(indices)
        return Batch(to_float_clips(self.clips[index]), self.labels[index], {k: v[index] for k, v in self.groups.items()})


def _as_is(batch: Batch) -> Batch:
    return batch


def class_balanced_sampler(labels: torch.Tensor, generator: torch.Generator) -> WeightedRandomSampler:
    """Return a sampler drawing len(labels) clips with replacement, every class equally likely."""
    counts = torch.bincount(labels).double()
    weights = (1.0 / counts.clamp_min(1))[labels]
    return WeightedRandomSampler(weights, num_samples=len(labels), replacement=True, generator=generator)


def make_loader(dataset: ClipSet, batch_size: int, shuffle: bool, seed: int, num_workers: int = 0,
                drop_last: bool = False, class_balanced: bool = False) -> DataLoader:
    """Return a DataLoader of ``Batch`` objects; shuffling (or class-balanced sampling) is seeded by ``seed``."""
    generator = torch.Generator().manual_seed(seed)
    sampler = class_balanced_sampler(dataset.labels, generator) if class_balanced else None
    return DataLoader(
        dataset, batch_size=batch_size, shuffle=shuffle and sampler is None, sampler=sampler,
        generator=None if sampler is not None else generator, num_workers=num_workers,
        drop_last=drop_last, collate_fn=_as_is, persistent_workers=False,
    )
