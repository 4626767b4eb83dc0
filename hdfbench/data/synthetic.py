"""``synthetic``: an embedded heterogeneous, imbalanced DFER benchmark that needs no download.

Clips show face-like renderings performing one of DFEW's seven expressions as a trajectory from
neutral to an apex and back (see ``synthetic_render``). The class prior is DFEW's (imbalance
ratio ≈ 18), raised to the power ``imbalance``. Heterogeneity is explicit: every clip comes from a
*source* (a camera style) and a *subject* (face geometry, resting face, expressivity, tempo); the
source mix differs by class (``source_skew``); some clips are *hard* (low intensity) and labels
can be flipped (``label_noise``). ``source`` and ``subject`` are metadata fields usable as groups.

The clips are generated once per option set, deterministically from ``seed``, and cached on disk
as a uint8 array (N, T, H, W, 3) plus a metadata table. ``protocol`` says how the folds are made:
``iid`` (5 class-stratified folds like DFEW), ``subject_disjoint`` (folds grouped by subject),
``leave_source_out`` (fold k tests on source k) or ``decorrelated_test``; the last, and any
``test_prior`` other than ``dfew``, test each fold on a *shifted* pool: clips planned for the test
side alone (same subjects and fold sizes, source drawn independently of class and/or labels drawn
with the requested prior), rendered after the training pool so the training pool is unchanged.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from pathlib import Path
from typing import Literal, cast

import numpy as np
import pandas as pd
from pydantic import Field, model_validator
from sklearn.model_selection import StratifiedGroupKFold, StratifiedKFold
from tqdm.auto import tqdm

from hdfbench.data import synthetic_render as render
from hdfbench.data.base import DATASETS, DataError, Dataset
from hdfbench.data.dfew import DFEW_CLASSES, DFEW_COUNTS
from hdfbench.schema import StrictModel

#: Apex action offsets from the neutral face, one row per class in DFEW order (columns: ACTIONS).
#: Disgust sits near Angry and Sad, Fear near Surprise: the minority classes are the confusable ones.
APEX = np.array(
    [
        # curve  open   width  brow_up brow_tilt eye_open nose
        [+0.30, +0.10, +0.25, +0.00, +0.00, -0.30, +0.0],  # Happy
        [-0.25, +0.00, -0.05, +0.02, +0.45, -0.20, +0.0],  # Sad
        [+0.00, +0.00, +0.00, +0.00, +0.00, +0.00, +0.0],  # Neutral
        [-0.08, +0.00, -0.20, -0.10, -0.45, +0.10, +0.2],  # Angry
        [+0.00, +0.55, -0.20, +0.15, +0.05, +0.55, +0.0],  # Surprise
        [-0.20, +0.08, -0.10, -0.06, -0.25, -0.25, +0.8],  # Disgust
        [-0.05, +0.25, +0.25, +0.10, +0.35, +0.45, +0.0],  # Fear
    ]
)
#: Neutral action values before a subject's resting offsets.
NEUTRAL = np.array([0.0, 0.02, 1.0, 0.0, 0.0, 1.0, 0.0])
#: Onset duration per class (fraction of the clip): surprise is fast, sadness slow.
RISE = np.array([0.25, 0.4, 0.3, 0.25, 0.1, 0.25, 0.15])
#: The source each class over-draws from when ``source_skew`` > 0 (index into SOURCES, mod n).
PREFERRED_SOURCE = np.array([0, 1, 0, 4, 1, 2, 3])
#: Bump when the rendering changes, so stale caches are not reused.
GENERATOR_VERSION = 2


class SyntheticOptions(StrictModel):
    """Options of the synthetic benchmark (all documented in docs/synthetic.md)."""

    n_clips: int = Field(1500, ge=35, description="total clips over all classes")
    frames: int = Field(8, ge=2, le=64, description="frames per clip T")
    size: int = Field(32, ge=16, le=256, description="frame height and width")
    seed: int = Field(0, description="generation seed (independent of the training seeds)")
    imbalance: float = Field(1.0, ge=0, le=2, description="exponent on DFEW's prior: 0 balanced, 1 DFEW")
    min_clips_per_class: int = Field(10, ge=5, description="floor on each class's clip count")
    n_sources: int = Field(4, ge=1, le=len(render.SOURCES), description="camera styles used")
    source_skew: float = Field(0.5, ge=0, le=1, description="0: same source mix for all classes")
    heterogeneity: float = Field(1.0, ge=0, le=1.5, description="severity of the camera styles")
    n_subjects: int = Field(40, ge=1, description="distinct subjects")
    hard_fraction: float = Field(0.15, ge=0, le=1, description="share of low-intensity clips")
    label_noise: float = Field(0.0, ge=0, lt=1, description="share of clips with a wrong label")
    talking: float = Field(0.3, ge=0, le=1, description="share of clips with speech-like mouth motion")
    protocol: Literal["iid", "subject_disjoint", "leave_source_out", "decorrelated_test"] = Field(
        "iid", description="how training and test folds are made (docs/synthetic.md)"
    )
    test_prior: Literal["dfew", "balanced", "reversed"] = Field(
        "dfew", description="class prior of the test side: the training prior, uniform, or reversed"
    )
    val_protocol: Literal["train", "group_balanced"] = Field(
        "train", description="inner validation: as the training distribution, or balanced over class × source"
    )

    LATE_FIELDS = ("protocol", "test_prior", "val_protocol")

    @model_validator(mode="after")
    def _enough_clips(self) -> "SyntheticOptions":
        if self.n_clips < self.min_clips_per_class * len(DFEW_CLASSES):
            raise ValueError(
                f"n_clips={self.n_clips} is below min_clips_per_class × 7 = {self.min_clips_per_class * 7}"
            )
        if self.protocol == "leave_source_out" and (self.n_sources < 2 or self.test_prior != "dfew"):
            raise ValueError(
                "protocol 'leave_source_out' needs n_sources >= 2 and test_prior 'dfew' "
                "(its test side is one source of the training pool)"
            )
        return self

    @property
    def shifted(self) -> bool:
        """Return whether the test side comes from a shifted pool instead of the training pool's folds."""
        return self.protocol == "decorrelated_test" or self.test_prior != "dfew"

    @property
    def fold_ids(self) -> tuple[int, ...]:
        """Return the folds: one per source under ``leave_source_out``, else 1..5."""
        return tuple(range(1, (self.n_sources if self.protocol == "leave_source_out" else 5) + 1))


def class_sizes(opts: SyntheticOptions) -> np.ndarray:
    """Return clips per class summing to n_clips: DFEW's prior ** imbalance, floored at the minimum.

    Classes whose share falls below ``min_clips_per_class`` get the minimum; the rest of the budget
    is shared by the others in proportion to the prior (largest-remainder rounding).
    """
    prior = DFEW_COUNTS.astype(float) ** opts.imbalance
    floored = np.zeros(len(prior), dtype=bool)
    while True:
        budget = opts.n_clips - opts.min_clips_per_class * floored.sum()
        ideal = np.where(floored, 0.0, budget * prior / prior[~floored].sum())
        newly = ~floored & (ideal < opts.min_clips_per_class)
        if not newly.any():
            break
        floored |= newly
    sizes = np.where(floored, opts.min_clips_per_class, np.floor(ideal)).astype(int)
    remainder = np.where(floored, -1.0, ideal - np.floor(ideal))
    sizes[np.argsort(-remainder)[: opts.n_clips - sizes.sum()]] += 1
    return sizes


def source_mix(opts: SyntheticOptions) -> np.ndarray:
    """Return P(source | class), shape (7, n_sources)."""
    n = opts.n_sources
    mix = np.full((len(DFEW_CLASSES), n), (1.0 - opts.source_skew) / n)
    mix[np.arange(len(DFEW_CLASSES)), PREFERRED_SOURCE % n] += opts.source_skew
    return mix


def plan_clips(opts: SyntheticOptions) -> pd.DataFrame:
    """Return the metadata of every clip (label, source, subject, hardness, noise, fold) before rendering."""
    rng = np.random.default_rng([opts.seed, 0])
    labels = np.repeat(np.arange(len(DFEW_CLASSES)), class_sizes(opts))
    rng.shuffle(labels)
    sources = list(render.SOURCES)[: opts.n_sources]
    mix = source_mix(opts)
    source_idx = np.array([rng.choice(opts.n_sources, p=mix[y]) for y in labels])
    table = pd.DataFrame(
        {
            "clip_id": [f"syn{i:06d}" for i in range(len(labels))],
            "label": labels,
            "clean_label": labels,
            "source": [sources[i] for i in source_idx],
            "subject": [f"s{i:03d}" for i in rng.integers(0, opts.n_subjects, len(labels))],
            "hard": rng.random(len(labels)) < opts.hard_fraction,
        }
    )
    noisy = rng.random(len(labels)) < opts.label_noise
    shift = rng.integers(1, len(DFEW_CLASSES), len(labels))
    table.loc[noisy, "label"] = (labels[noisy] + shift[noisy]) % len(DFEW_CLASSES)
    table["noisy_label"] = noisy
    table["fold"] = assign_folds(opts, table)
    if not opts.shifted:
        return table
    return pd.concat([table.assign(pool="train"), shifted_pool(opts, table).assign(pool="test")], ignore_index=True)


def assign_folds(opts: SyntheticOptions, table: pd.DataFrame) -> np.ndarray:
    """Return each clip's fold (1-based) under ``opts.protocol``."""
    if opts.protocol == "leave_source_out":
        sources = list(render.SOURCES)[: opts.n_sources]
        return table["source"].map(sources.index).to_numpy() + 1
    if opts.protocol == "subject_disjoint":
        splitter = StratifiedGroupKFold(n_splits=5, shuffle=True, random_state=opts.seed)
        parts = splitter.split(np.zeros(len(table)), table["label"], groups=table["subject"])
    else:
        parts = StratifiedKFold(n_splits=5, shuffle=True, random_state=opts.seed).split(
            np.zeros(len(table)), table["label"]
        )
    folds = np.zeros(len(table), dtype=int)
    for k, (_, test_idx) in enumerate(parts, start=1):
        folds[test_idx] = k
    return folds


def shifted_class_counts(opts: SyntheticOptions, n: int) -> np.ndarray:
    """Return the class counts (summing to ``n``) of a shifted test fold under ``opts.test_prior``.

    ``dfew`` is the training prior (DFEW's ** imbalance), ``balanced`` uniform, ``reversed`` the
    training prior with its classes' ranks reversed (the most frequent class becomes the rarest).
    """
    prior = DFEW_COUNTS.astype(float) ** opts.imbalance
    if opts.test_prior == "balanced":
        prior = np.ones_like(prior)
    elif opts.test_prior == "reversed":
        order = np.argsort(prior)
        prior[order] = np.sort(prior)[::-1]
    ideal = n * prior / prior.sum()
    counts = np.floor(ideal).astype(int)
    counts[np.argsort(-(ideal - counts))[: n - counts.sum()]] += 1
    return counts


def shifted_pool(opts: SyntheticOptions, train: pd.DataFrame) -> pd.DataFrame:
    """Return the test clips of every fold drawn from the shifted distribution of ``opts``.

    Fold k gets as many clips as the training pool's fold k, with labels from ``shifted_class_counts``,
    subjects from that fold's subjects (so ``subject_disjoint`` stays disjoint), and sources drawn
    independently of class under ``decorrelated_test`` (else from the training pool's class mix).
    """
    rng = np.random.default_rng([opts.seed, 3])
    sources = list(render.SOURCES)[: opts.n_sources]
    mix = source_mix(opts)
    parts = []
    for fold, rows in train.groupby("fold", sort=True):
        labels = np.repeat(np.arange(len(DFEW_CLASSES)), shifted_class_counts(opts, len(rows)))
        rng.shuffle(labels)
        if opts.protocol == "decorrelated_test":
            source_idx = rng.integers(0, opts.n_sources, len(labels))
        else:
            source_idx = np.array([rng.choice(opts.n_sources, p=mix[y]) for y in labels])
        noisy = rng.random(len(labels)) < opts.label_noise
        shift = rng.integers(1, len(DFEW_CLASSES), len(labels))
        parts.append(
            pd.DataFrame(
                {
                    "label": np.where(noisy, (labels + shift) % len(DFEW_CLASSES), labels),
                    "clean_label": labels,
                    "source": [sources[i] for i in source_idx],
                    "subject": rng.choice(rows["subject"].unique(), len(labels)),
                    "hard": rng.random(len(labels)) < opts.hard_fraction,
                    "noisy_label": noisy,
                    "fold": fold,
                }
            )
        )
    pool = pd.concat(parts, ignore_index=True)
    pool.insert(0, "clip_id", [f"syt{i:06d}" for i in range(len(pool))])
    return pool


def render_clip(opts: SyntheticOptions, row: pd.Series, index: int, subjects: list[render.Subject]) -> np.ndarray:
    """Return the uint8 clip (T, H, W, 3) of one planned row; deterministic in (seed, index)."""
    rng = np.random.default_rng([opts.seed, 1, index])
    subject = subjects[int(row["subject"][1:])]
    style = render.SOURCES[row["source"]].scaled(opts.heterogeneity)
    y = int(row["clean_label"])
    amplitude = subject.expressivity * rng.uniform(0.75, 1.2) * (rng.uniform(0.2, 0.45) if row["hard"] else 1.0)
    rise = RISE[y] * subject.tempo * rng.uniform(0.8, 1.25)
    onset = rng.uniform(0.0, 0.35)
    times = render.frame_times(opts.frames, style, rng)
    actions = (
        NEUTRAL
        + subject.resting
        + render.expression_trajectory(
            APEX[y], amplitude, onset, rise, rng.uniform(0.1, 0.5), rng.uniform(0.15, 0.4), times
        )
    )
    if rng.random() < opts.talking:
        phase, speed = rng.uniform(0, 2 * np.pi), rng.uniform(8, 16)
        actions[:, 1] += 0.08 * np.maximum(np.sin(speed * times + phase), 0)
    actions += rng.normal(0.0, 0.01, actions.shape)
    pose = render.pose_track(opts.frames, style.pose, rng)
    frames = render.render_frames(actions, subject, pose, opts.size, rng.uniform(0.15, 0.85, 3))
    return render.apply_camera(frames, style, rng)


#: Options that do not change the generated clips (they act on the splits only).
SPLIT_ONLY = ("val_protocol",)


def cache_key(opts: SyntheticOptions) -> str:
    """Return the cache key of an option set (changes whenever the generated data would)."""
    options = SyntheticOptions.identity_payload(opts.model_dump(mode="json", exclude=set(SPLIT_ONLY)))
    payload = json.dumps({"v": GENERATOR_VERSION, **options}, sort_keys=True)
    return hashlib.sha256(payload.encode()).hexdigest()[:16]


def generate(opts: SyntheticOptions, out_dir: Path, progress: bool = True) -> None:
    """Render every clip of ``opts`` into ``out_dir`` (clips.npy, meta.parquet, options.json)."""
    table = plan_clips(opts)
    subject_rng = np.random.default_rng([opts.seed, 2])
    subjects = [render.Subject.sample(subject_rng) for _ in range(opts.n_subjects)]
    out_dir.mkdir(parents=True, exist_ok=True)
    clips = np.lib.format.open_memmap(
        out_dir / "clips.npy",
        mode="w+",
        dtype=np.uint8,
        shape=(len(table), opts.frames, opts.size, opts.size, 3),
    )
    rows = tqdm(
        table.iterrows(), total=len(table), desc="synthetic clips", disable=None if progress else True, leave=False
    )
    for i, row in rows:
        clips[i] = render_clip(opts, row, i, subjects)
    clips.flush()
    del clips
    table.to_parquet(out_dir / "meta.parquet", index=False)
    (out_dir / "options.json").write_text(json.dumps(opts.model_dump(), indent=2))


@DATASETS.register("synthetic")
class SyntheticDFER(Dataset):
    """The embedded synthetic heterogeneous, imbalanced DFER benchmark."""

    Options = SyntheticOptions
    options: SyntheticOptions
    classes = DFEW_CLASSES
    folds: tuple[int, ...] = (1, 2, 3, 4, 5)
    group_fields = ("source", "subject")

    @classmethod
    def folds_for(cls, options: StrictModel) -> tuple[int, ...]:
        """Return the folds of an option set (one per source under ``leave_source_out``)."""
        return cast(SyntheticOptions, options).fold_ids  # called with an instance of cls.Options

    @property
    def data_dir(self) -> Path:
        """Return the cache folder of this option set."""
        return self.cache_dir / "synthetic" / cache_key(self.options)

    def prepare(self) -> None:
        """Generate and cache the clips unless a complete cache exists (atomic: render, then rename)."""
        if (self.data_dir / "meta.parquet").exists():
            return
        tmp = self.data_dir.with_name(f"{self.data_dir.name}.tmp-{os.getpid()}")
        shutil.rmtree(tmp, ignore_errors=True)
        generate(self.options, tmp)
        try:
            tmp.rename(self.data_dir)
        except OSError:  # another process finished first; its copy is identical
            shutil.rmtree(tmp, ignore_errors=True)

    def census(self) -> dict:
        """Return the generator key: the same options and code give the same clips on every node."""
        return {"generated": cache_key(self.options), "clips": self.options.n_clips}

    def table(self) -> pd.DataFrame:
        """Return the metadata table of all clips (with a ``row`` column indexing clips.npy and the
        ``pool`` each clip belongs to: ``train``, or ``test`` for a shifted test pool)."""
        path = self.data_dir / "meta.parquet"
        if not path.exists():
            raise DataError(f"synthetic data not generated at {self.data_dir}; call prepare() first")
        table = pd.read_parquet(path).assign(row=lambda t: np.arange(len(t)))
        return table if "pool" in table else table.assign(pool="train")  # caches written before pools existed

    def split(self, fold: int) -> tuple[pd.DataFrame, pd.DataFrame]:
        """Return (train, test) of ``fold``: training-pool clips outside it, and its test clips (from the
        shifted pool when the protocol has one)."""
        table = self.table()
        train = table[(table["pool"] == "train") & (table["fold"] != fold)]
        test = table[(table["pool"] == ("test" if self.options.shifted else "train")) & (table["fold"] == fold)]
        return train.reset_index(drop=True), test.reset_index(drop=True)

    def in_distribution_test(self, fold: int) -> pd.DataFrame | None:
        """Return the training pool's fold ``fold`` when the test side is a shifted pool (else None)."""
        if not self.options.shifted:
            return None
        table = self.table()
        return table[(table["pool"] == "train") & (table["fold"] == fold)].reset_index(drop=True)

    def validation_split(self, train: pd.DataFrame, fraction: float, seed: int) -> tuple[pd.DataFrame, pd.DataFrame]:
        """Return (train, val) carved from the training side: class-stratified (``val_protocol: train``),
        or with every class × source group equally represented (``group_balanced``, as far as the
        groups' sizes allow; each group keeps at least one training clip)."""
        if self.options.val_protocol == "train":
            return super().validation_split(train, fraction, seed)
        return group_balanced_split(train, ["label", "source"], fraction, seed)

    def load_clips(self, table: pd.DataFrame) -> np.ndarray:
        clips = np.load(self.data_dir / "clips.npy", mmap_mode="r")
        return np.ascontiguousarray(clips[table["row"].to_numpy()])

    @classmethod
    def smoke_options(cls, options: dict) -> dict:
        return {**options, "n_clips": 84, "frames": 4, "size": 32, "min_clips_per_class": 10, "n_subjects": 8}


def group_balanced_split(
    train: pd.DataFrame, keys: list[str], fraction: float, seed: int
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Return (train, val) with about ``fraction`` of ``train`` in val, the same number from every group
    of ``keys`` where possible (a group with fewer clips gives all but one)."""
    rng = np.random.default_rng(seed)
    groups = train.groupby(keys, sort=True).indices
    quota = max(1, round(fraction * len(train) / len(groups)))
    picked = [
        rng.choice(index, size=min(quota, len(index) - 1), replace=False) for index in groups.values() if len(index) > 1
    ]
    val_index = np.sort(np.concatenate(picked)) if picked else np.array([], dtype=int)
    val = train.iloc[val_index]
    return train.drop(train.index[val_index]).reset_index(drop=True), val.reset_index(drop=True)
