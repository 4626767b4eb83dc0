"""Describing a dataset without training: clip counts per fold, split and class; imbalance; frames; groups.

``class_counts_table`` is the long table (fold, split, class, n) that the imbalance plots reuse;
``describe`` gathers everything ``hdfbench inspect`` prints; ``render_text`` formats it.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from hdfbench.data.base import Dataset, make_splits

SPLITS = ("train", "val", "test")


def class_counts_table(dataset: Dataset, folds: list[int], seed: int = 0, val_fraction: float = 0.1) -> pd.DataFrame:
    """Return one row per (fold, split, class) with the clip count ``n`` (inner validation carved by ``seed``)."""
    rows = []
    for fold in folds:
        splits = make_splits(dataset, fold, seed, val_fraction)
        for split in SPLITS:
            counts = np.bincount(getattr(splits, split)["label"], minlength=len(dataset.classes))
            rows += [(fold, split, name, int(n)) for name, n in zip(dataset.classes, counts)]
    return pd.DataFrame(rows, columns=["fold", "split", "class", "n"])


def imbalance_ratio(counts: np.ndarray) -> float:
    """Return the largest class count over the smallest non-empty one (inf if a class is empty)."""
    counts = np.asarray(counts)
    return float("inf") if counts.min() == 0 else float(counts.max() / counts.min())


def all_clips(dataset: Dataset) -> pd.DataFrame:
    """Return every usable clip once (the train and test tables of the first fold together)."""
    train, test = dataset.split(dataset.folds[0])
    return pd.concat([train, test], ignore_index=True)


def frame_stats(table: pd.DataFrame, frames: int) -> dict:
    """Return min / median / mean / max frames per clip and the number of clips shorter than ``frames``."""
    if "n_frames" not in table.columns or table.empty:
        return {}
    n = table["n_frames"].to_numpy()
    return {
        "min": int(n.min()),
        "median": float(np.median(n)),
        "mean": round(float(n.mean()), 2),
        "max": int(n.max()),
        "shorter_than_T": int((n < frames).sum()),
        "T": frames,
    }


def describe(dataset: Dataset, folds: list[int] | None = None, seed: int = 0, val_fraction: float = 0.1) -> dict:
    """Return a JSON-ready description: counts per fold/split/class, imbalance, frames, groups, bad clips."""
    folds = folds or list(dataset.folds)
    table = class_counts_table(dataset, folds, seed, val_fraction)
    clips = all_clips(dataset)
    totals = np.bincount(clips["label"], minlength=len(dataset.classes))
    per_fold: dict[str, dict[str, Any]] = {}
    for fold in folds:
        cell = table[table["fold"] == fold]
        per_fold[str(fold)] = {
            split: dict(zip(cell.loc[cell["split"] == split, "class"], cell.loc[cell["split"] == split, "n"]))
            for split in SPLITS
        }
        train = cell.loc[cell["split"] == "train", "n"].to_numpy()
        per_fold[str(fold)]["train_imbalance_ratio"] = imbalance_ratio(train)
    bad = dataset.bad_clips()
    return {
        "dataset": dataset.name,
        "classes": list(dataset.classes),
        "n_clips": int(len(clips)),
        "class_totals": dict(zip(dataset.classes, totals.tolist())),
        "imbalance_ratio": imbalance_ratio(totals),
        "folds": per_fold,
        "frames": frame_stats(clips, dataset.frames),
        "groups": {f: clips[f].astype(str).value_counts().sort_index().to_dict() for f in dataset.group_fields},
        "bad_clips": {"count": len(bad), "clips": [str(b) for b in bad]},
    }


def render_text(info: dict) -> str:
    """Return ``describe``'s output as readable text tables."""
    lines = [
        f"{info['dataset']}: {info['n_clips']} clips, {len(info['classes'])} classes, "
        f"imbalance ratio {info['imbalance_ratio']:.1f}"
    ]
    for fold, cell in info["folds"].items():
        frame = pd.DataFrame({s: cell[s] for s in SPLITS}).loc[info["classes"]]
        frame.loc["total"] = frame.sum()
        lines += ["", f"fold {fold} (train imbalance ratio {cell['train_imbalance_ratio']:.1f})", frame.to_string()]
    if info["frames"]:
        f = info["frames"]
        lines += [
            "",
            f"frames per clip: min {f['min']}, median {f['median']:g}, mean {f['mean']:g}, max {f['max']}; "
            f"{f['shorter_than_T']} clips shorter than T={f['T']} (edge-padded)",
        ]
    for field, sizes in info["groups"].items():
        lines += ["", f"group sizes by {field}: " + ", ".join(f"{k} {v}" for k, v in sizes.items())]
    lines += ["", f"bad clips: {info['bad_clips']['count']}", *(f"  {c}" for c in info["bad_clips"]["clips"][:20])]
    if info["bad_clips"]["count"] > 20:
        lines.append(f"  ... and {info['bad_clips']['count'] - 20} more (see --json)")
    return "\n".join(lines) + "\n"
