"""A run directory, the source of truth of one run.

Layout: ``config.json`` (the run spec and class names), ``metrics.jsonl`` (one record per epoch),
``checkpoint.pt`` (everything needed to resume, rewritten atomically each epoch), ``best.pt``
(weights of the selected epoch), ``predictions.parquet`` (per val/test clip: label, pred, logits,
metadata), ``attempts.jsonl`` (where and when each attempt ran: node, host, GPUs, sweep),
``failed.json`` (why the last attempt failed) and ``done`` (written last).
"""

from __future__ import annotations

import contextlib
import fcntl
import io
import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pandas as pd
import torch

from hdfbench.fileio import atomic_write, atomic_write_json, atomic_write_text, read_jsonl


class RunDirBusy(RuntimeError):
    """Another live process is training in this run directory."""


class RunDir:
    """Paths and atomic reads/writes of one run directory."""

    def __init__(self, path: str | Path):
        self.path = Path(path)

    config = property(lambda self: self.path / "config.json")
    metrics = property(lambda self: self.path / "metrics.jsonl")
    checkpoint = property(lambda self: self.path / "checkpoint.pt")
    best = property(lambda self: self.path / "best.pt")
    predictions = property(lambda self: self.path / "predictions.parquet")
    failed = property(lambda self: self.path / "failed.json")
    attempts = property(lambda self: self.path / "attempts.jsonl")
    done = property(lambda self: self.path / "done")

    @contextlib.contextmanager
    def lock(self) -> Iterator[None]:
        """Hold an exclusive lock on the run directory (released when the holder exits or dies)."""
        self.path.mkdir(parents=True, exist_ok=True)
        with (self.path / ".lock").open("w") as handle:
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                raise RunDirBusy(f"{self.path} is in use by another process (an orphaned trial?)") from None
            try:
                yield
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)

    @property
    def is_done(self) -> bool:
        """Return whether the run finished (its ``done`` marker exists)."""
        return self.done.exists()

    def read_config(self) -> dict[str, Any]:
        """Return the run's saved config (spec, classes, group fields)."""
        return json.loads(self.config.read_text())

    def write_config(self, config: dict[str, Any]) -> None:
        """Save the run's config (atomically)."""
        atomic_write_json(self.config, config)

    def read_metrics(self) -> list[dict]:
        """Return the per-epoch metric records."""
        return read_jsonl(self.metrics)

    def append_metrics(self, record: dict) -> None:
        """Append one epoch record to metrics.jsonl."""
        self.path.mkdir(parents=True, exist_ok=True)
        with self.metrics.open("a") as f:
            f.write(json.dumps(record, sort_keys=True) + "\n")

    def truncate_metrics(self, epochs_done: int) -> None:
        """Keep only the records of the first ``epochs_done`` epochs (those the checkpoint covers)."""
        self.write_metrics([r for r in self.read_metrics() if r["epoch"] < epochs_done])

    def write_metrics(self, records: list[dict]) -> None:
        """Replace metrics.jsonl with ``records`` (atomically)."""
        atomic_write_text(self.metrics, "".join(json.dumps(r, sort_keys=True) + "\n" for r in records))

    def quarantine(self, path: Path) -> Path:
        """Move a damaged file of this run aside (``<name>.damaged-<unix time>``); return where it went."""
        target = path.with_name(f"{path.name}.damaged-{int(time.time())}")
        path.replace(target)
        return target

    def save_torch(self, path: Path, obj: Any) -> None:
        """Save ``obj`` with torch.save to ``path`` atomically.

        Serialised in memory first: torch's file writer reports a full disk as an opaque RuntimeError,
        a plain write as the OSError (ENOSPC) it is.
        """
        buffer = io.BytesIO()
        torch.save(obj, buffer)
        atomic_write(path, lambda tmp: tmp.write_bytes(buffer.getbuffer()))

    def load_torch(self, path: Path) -> Any:
        """Return the object saved at ``path`` (tensors mapped to CPU)."""
        return torch.load(path, map_location="cpu", weights_only=False)

    def write_predictions(self, frame: pd.DataFrame) -> None:
        """Save the per-clip predictions table atomically."""
        atomic_write(self.predictions, lambda tmp: frame.to_parquet(tmp, index=False))

    def read_predictions(self) -> pd.DataFrame:
        """Return the per-clip predictions table."""
        return pd.read_parquet(self.predictions)

    def mark_failed(self, reason: str, **details: Any) -> None:
        """Record why the run failed (with ``details`` such as the sweep id or a traceback)."""
        atomic_write_json(self.failed, {"reason": reason, "time": time.time(), **details})

    def read_failed(self) -> dict | None:
        """Return the failure record, or None if there is none (or it is unreadable)."""
        try:
            return json.loads(self.failed.read_text())
        except (OSError, ValueError):
            return None

    def record_attempt(self, info: dict) -> list[dict]:
        """Append one attempt (where and when it runs) to attempts.jsonl; return every attempt so far."""
        self.path.mkdir(parents=True, exist_ok=True)
        with self.attempts.open("a") as f:
            f.write(json.dumps(info, sort_keys=True) + "\n")
        return self.read_attempts()

    def read_attempts(self) -> list[dict]:
        """Return every recorded attempt, oldest first."""
        return read_jsonl(self.attempts)

    def mark_done(self, info: dict) -> None:
        """Write the ``done`` marker (JSON with the selected epoch and timings); the last write."""
        self.failed.unlink(missing_ok=True)
        atomic_write_json(self.done, info)

    def read_done(self) -> dict:
        """Return the content of the ``done`` marker."""
        return json.loads(self.done.read_text())
