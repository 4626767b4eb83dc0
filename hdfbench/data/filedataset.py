"""The base of datasets read from files: split files → clip tables, media scan, cache, bad-clip policy.

A subclass says where its split files and clips are (``split_file``, ``read_split``, ``clip_base``)
and how labels map to classes (``label_index``). This base parses every split of every fold,
finds each clip's frame folder or video, counts its frames, decodes it into the ``ClipCache`` in
``prepare``, and applies ``on_bad_clip``: ``error`` stops with the count and list of all bad clips,
``skip`` logs each one, leaves it out of every split and records it in ``skipped``.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import ClassVar, Literal, cast

import numpy as np
import pandas as pd
from pydantic import Field
from tqdm.auto import tqdm

from hdfbench.data.base import Dataset
from hdfbench.data.cache import ClipCache
from hdfbench.data.clips import CachedClips
from hdfbench.data.errors import DataError, MediaError
from hdfbench.data.heterogeneity import quantile_bins
from hdfbench.data.media import count_frames, read_clip, resolve_clip
from hdfbench.data.transforms import AugmentOptions
from hdfbench.fileio import first_non_utf8
from hdfbench.schema import LocalPath, StrictModel

log = logging.getLogger(__name__)

#: How many bad clips an ``on_bad_clip: error`` message lists before "... and N more".
LISTED_BAD_CLIPS = 20
PARTS = ("train", "test")


def split_rows(
    path: Path, expected: str, valid: Callable[[str], bool] = lambda clip: True
) -> Iterator[tuple[int, str, str]]:
    """Yield (line number, clip field, label field) of each non-empty line of a two-column split file.

    A line with another shape, or whose clip field fails ``valid``, raises ``DataError`` naming
    ``path:line`` and the ``expected`` form.
    """
    for number, line in enumerate(path.read_text().splitlines(), start=1):
        if not line.strip():
            continue
        fields = line.split()
        if len(fields) != 2 or not valid(fields[0]):
            raise DataError(f"{path}:{number}: expected '{expected}', got '{line}'")
        yield number, fields[0], fields[1]


def read_split_file(read: Callable[[Path], pd.DataFrame], path: Path) -> pd.DataFrame:
    """Return ``read(path)``, with a file that is not UTF-8, not a table, or lists no clip reported as
    one ``DataError`` naming ``path:line``."""
    try:
        table = read(path)
    except UnicodeDecodeError:  # the reader's own offset may be into a buffer, not the file
        line, byte = first_non_utf8(path.read_bytes()) or (1, 0)
        raise DataError(f"{path}:{line}: not UTF-8 text (byte 0x{byte:02x})") from None
    except pd.errors.EmptyDataError:
        table = pd.DataFrame()
    except pd.errors.ParserError as exc:
        found = re.search(r"line (\d+)", str(exc))
        raise DataError(
            f"{path}:{found.group(1) if found else 1}: not a readable split table ({str(exc).strip().splitlines()[0]})"
        ) from None
    if table.empty:
        raise DataError(f"{path}:1: the split file lists no clip")
    return table


class FileOptions(StrictModel):
    """Options shared by every file-backed dataset (documented in docs/datasets.md)."""

    root: LocalPath = Field(description="the dataset's top folder")
    frames: int = Field(16, ge=1, description="frames per clip T")
    size: int = Field(112, ge=16, description="frame height and width after resizing")
    max_cached_frames: int | None = Field(
        32, ge=1, description="frames kept per clip in the cache, spread uniformly (None: all)"
    )
    on_bad_clip: Literal["error", "skip"] = Field("error", description="stop on bad clips, or leave them out")
    augment: AugmentOptions = Field(default_factory=AugmentOptions, description="training augmentation")
    decode_workers: int = Field(2, ge=1, description="threads decoding clips into the cache")
    length_groups: int = Field(
        0, ge=0, le=9, description="a 'length' group field: k frame-count bins at the clips' quantiles (0: none)"
    )

    #: Options added after run ids were first published: part of a run id only when set.
    LATE_FIELDS: ClassVar[tuple[str, ...]] = ("length_groups",)


@dataclass(frozen=True)
class BadClip:
    """A clip that cannot be used: its id, the file at fault and why."""

    clip_id: str
    file: str
    reason: str

    def __str__(self) -> str:
        return self.reason if self.file in self.reason else f"{self.file}: {self.reason}"


class FileDataset(Dataset):
    """A dataset of clips on disk listed by split files; see the module docstring."""

    Options: ClassVar[type[FileOptions]] = FileOptions
    options: FileOptions
    #: How error messages name the dataset (default: its registered name) and what to do about a missing root.
    title: ClassVar[str] = ""
    root_help: ClassVar[str] = ""

    @classmethod
    def group_fields_for(cls, options: StrictModel) -> tuple[str, ...]:
        """Return the dataset's own group fields, then ``length`` when ``length_groups`` is set."""
        return (*cls.group_fields, *(("length",) if cast(FileOptions, options).length_groups else ()))

    # --- what a subclass provides -------------------------------------------------------------
    def check_root(self) -> Path:
        """Return the data root; raise ``DataError`` naming the option if it does not exist."""
        root = Path(self.options.root)
        if not root.is_dir():
            help_text = f"; {self.root_help}" if self.root_help else ""
            raise DataError(
                f"{self.title or self.name} data root '{root}' does not exist (datasets[].options.root){help_text}"
            )
        return root

    def split_file(self, fold: int, part: str) -> Path:
        """Return the split file listing the ``part`` ('train' or 'test') clips of ``fold``."""
        raise NotImplementedError

    def read_split(self, path: Path) -> pd.DataFrame:
        """Return the rows of a split file: clip_id, raw_label, line (1-based), plus metadata columns."""
        raise NotImplementedError

    def label_index(self, raw: str) -> int | None:
        """Return the class index of a raw label of the split files, or None if it is not a class
        (the default: labels are class names)."""
        return self.classes.index(raw) if raw in self.classes else None

    def clip_base(self, clip_id: str) -> Path:
        """Return the frame folder of ``clip_id`` (a video ``<base>.<ext>`` next to it is accepted too)."""
        raise NotImplementedError

    def derived_groups(self) -> pd.DataFrame:
        """Return the group fields derived from the data, one row per usable listed clip (index clip_id):
        ``length`` (frame-count bins) when ``length_groups`` is set; subclasses add theirs."""
        usable = self.catalog[self.catalog["bad_reason"] == ""]
        groups = pd.DataFrame(index=usable.index)
        k = self.options.length_groups
        if k:
            groups["length"] = quantile_bins(usable["n_frames"], k)
            if k > 1 and groups["length"].nunique() == 1:
                raise DataError(
                    f"{self.name}: datasets[].options.length_groups: {k} finds one length group, every clip has "
                    f"{int(usable['n_frames'].iloc[0])} frames{self.length_help}"
                )
        return groups

    #: What to say when every clip has the same length (a dataset whose frames were resampled to T).
    length_help: ClassVar[str] = ""

    def cache_params(self) -> dict:
        """Return the parameters that change the cached frames (subclasses add their variants)."""
        return {
            "root": str(self.root.resolve()),
            "size": self.options.size,
            "max_cached_frames": self.options.max_cached_frames,
        }

    # --- shared machinery ---------------------------------------------------------------------
    @property
    def metadata_fields(self) -> tuple[str, ...]:
        return (*self.group_fields, "n_frames")

    @cached_property
    def root(self) -> Path:
        """Return the checked data root."""
        return self.check_root()

    @cached_property
    def cache(self) -> ClipCache:
        """Return the clip cache of this dataset's root and preprocessing parameters."""
        return ClipCache(self.cache_dir, self.name, self.cache_params())

    def rows(self, fold: int, part: str) -> pd.DataFrame:
        """Return the parsed rows of one split file with ``label`` (-1 if unknown) and ``file``."""
        path = self.split_file(fold, part)
        if not path.is_file():
            raise DataError(f"{self.name} split file {path} does not exist (fold {fold}, {part})")
        table = read_split_file(self.read_split, path)
        table["label"] = [self._label(v) for v in table["raw_label"]]
        table["file"] = str(path)
        return table

    def _label(self, raw) -> int:
        index = self.label_index(str(raw).strip())
        return -1 if index is None else index

    @cached_property
    def catalog(self) -> pd.DataFrame:
        """Return one row per clip listed in any split file: clip_id, source, n_frames, bad (reason or '')."""
        listed = pd.concat([self.rows(f, p) for f in self.folds for p in PARTS], ignore_index=True)
        first = listed.drop_duplicates("clip_id").set_index("clip_id")
        known = self.cache.read_frame_counts()
        counts = dict(known)
        records = [
            self._scan(clip_id, f"{row.file}:{row.line}", counts)
            for clip_id, row in zip(first.index, first.itertuples())
        ]
        if counts != known:
            self.cache.write_frame_counts(counts)
        catalog = pd.DataFrame(records, columns=["clip_id", "source", "n_frames", "bad_file", "bad_reason"])
        bad_labels = listed[listed["label"] < 0]
        for row in bad_labels.itertuples():
            mask = catalog["clip_id"] == row.clip_id
            catalog.loc[mask, "bad_file"] = f"{row.file}:{row.line}"
            catalog.loc[mask, "bad_reason"] = (
                f"label '{row.raw_label}' of clip {row.clip_id} is not one of {', '.join(self.label_names())}"
            )
        return catalog.set_index("clip_id")

    def label_names(self) -> tuple[str, ...]:
        """Return the labels the split files may use (defaults to the class names)."""
        return self.classes

    def _scan(self, clip_id: str, listed_at: str, video_counts: dict[str, list[int]]) -> tuple:
        base = self.clip_base(clip_id)
        source = resolve_clip(base)
        if source is None:
            return clip_id, str(base), 0, str(base), f"clip folder (or video file) is missing (listed at {listed_at})"
        try:
            return clip_id, str(source), _frame_count(source, video_counts), "", ""
        except MediaError as exc:
            return clip_id, str(source), 0, str(source), str(exc)

    def bad_clips(self) -> list[BadClip]:
        """Return every bad clip found so far (scan, labels, and decoding in ``prepare``)."""
        bad = self.catalog[self.catalog["bad_reason"] != ""]
        return [BadClip(i, r.bad_file, r.bad_reason) for i, r in zip(bad.index, bad.itertuples())]

    def scan(self) -> None:
        """Check the root and split files and count every clip's frames, without decoding."""
        self.catalog  # noqa: B018  (builds and keeps the catalog)

    def census(self) -> dict:
        """Return the root and the numbers of listed clips, clips found and frames (a scan, no decoding)."""
        catalog = self.catalog
        return {
            "root": str(self.root),
            "listed": len(catalog),
            "found": int((catalog["n_frames"] > 0).sum()),
            "frames": int(catalog["n_frames"].sum()),
        }

    def prepare(self) -> None:
        """Check the root and split files, scan every clip, fill the cache, apply ``on_bad_clip``, then derive
        the group fields (so that a bad vote file is reported before any trial)."""
        self.fill_cache()
        self.apply_policy()
        self.groups  # noqa: B018  (builds and keeps the derived groups)

    @cached_property
    def groups(self) -> pd.DataFrame:
        """Return ``derived_groups()``, computed once."""
        return self.derived_groups()

    def fill_cache(self) -> None:
        """Decode every usable clip that is not cached yet; record decoding failures as bad clips."""
        catalog = self.catalog
        todo = [i for i in catalog.index[catalog["bad_reason"] == ""] if not self.cache.has(i)]
        if not todo:
            return

        def decode(clip_id: str) -> str:
            try:
                self.cache.write(
                    clip_id,
                    read_clip(Path(catalog.at[clip_id, "source"]), self.options.size, self.options.max_cached_frames),
                )
                return ""
            except MediaError as exc:
                return str(exc)

        with ThreadPoolExecutor(self.options.decode_workers) as pool:
            results = list(
                tqdm(pool.map(decode, todo), total=len(todo), desc=f"decoding {self.name}", disable=None, leave=False)
            )
        for clip_id, error in zip(todo, results):
            if error:
                catalog.loc[clip_id, ["bad_file", "bad_reason"]] = [catalog.at[clip_id, "source"], error]

    def apply_policy(self) -> None:
        """Raise ``DataError`` listing all bad clips (``error``), or log and record them (``skip``)."""
        bad = self.bad_clips()
        if not bad:
            return
        if self.options.on_bad_clip == "skip":
            for clip in bad:
                log.warning("%s: skipping clip %s: %s", self.name, clip.clip_id, clip)
            self.skipped = bad
            return
        listed = "\n  ".join(str(c) for c in bad[:LISTED_BAD_CLIPS])
        more = f"\n  ... and {len(bad) - LISTED_BAD_CLIPS} more" if len(bad) > LISTED_BAD_CLIPS else ""
        raise DataError(
            f"{len(bad)} bad clips in {self.name} data at {self.root} (on_bad_clip: error; set "
            f"datasets[].options.on_bad_clip: skip to leave them out):\n  {listed}{more}"
        )

    def split(self, fold: int) -> tuple[pd.DataFrame, pd.DataFrame]:
        """Return the (train, test) clip tables of ``fold`` without bad clips (clip_id, label, metadata)."""
        if self.options.on_bad_clip == "error":
            self.apply_policy()
        return self.clip_table(fold, "train"), self.clip_table(fold, "test")

    def clip_table(self, fold: int, part: str) -> pd.DataFrame:
        """Return the usable clips of one split: clip_id, label and the metadata fields, in file order."""
        rows = self.rows(fold, part)
        info = self.catalog.loc[rows["clip_id"]]
        good = (info["bad_reason"] == "").to_numpy()
        table = rows.loc[good].assign(n_frames=info["n_frames"].to_numpy()[good].astype(int))
        for field in self.groups.columns:
            table[field] = self.groups.loc[table["clip_id"], field].to_numpy()
        return table[["clip_id", "label", *self.metadata_fields]].reset_index(drop=True)

    def clip_array(self, table: pd.DataFrame, train: bool) -> CachedClips:
        """Return the clips of ``table`` read lazily from the cache (TSN sampling, augmentation if ``train``)."""
        sources = self.catalog.loc[table["clip_id"], "source"].tolist()
        return CachedClips(
            self.cache,
            table["clip_id"].tolist(),
            sources,
            self.options.frames,
            self.options.size,
            self.options.max_cached_frames,
            self.options.augment,
            train=train,
        )

    def load_clips(self, table: pd.DataFrame) -> np.ndarray:
        """Return the clips of ``table`` with evaluation sampling as uint8 (N, T, size, size, 3)."""
        return self.clip_array(table, train=False)[np.arange(len(table))]

    @classmethod
    def smoke_options(cls, options: dict) -> dict:
        return {**options, "frames": 4, "size": 32}


def _frame_count(source: Path, video_counts: dict[str, list[int]]) -> int:
    """Return the frame count of ``source``; a video's is taken from (and added to) ``video_counts``
    while its size and modification time are unchanged (a folder is listed every time: it is cheap)."""
    if source.is_dir():
        return count_frames(source)
    stat = source.stat()
    stamp = [stat.st_size, stat.st_mtime_ns]
    known = video_counts.get(str(source))
    if known is not None and known[:2] == stamp:
        return known[2]
    n = count_frames(source)
    video_counts[str(source)] = [*stamp, n]
    return n
