"""Atomic file writes: a reader never sees a half-written file, a crash never corrupts an old one."""

from __future__ import annotations

import errno
import json
import os
import tempfile
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

_UMASK_LOCK = threading.Lock()


def disk_full(exc: BaseException) -> bool:
    """Return whether ``exc`` says a disk or quota is full (retrying on the same storage would not help)."""
    return isinstance(exc, OSError) and exc.errno in (errno.ENOSPC, errno.EDQUOT)


def first_non_utf8(raw: bytes) -> tuple[int, int] | None:
    """Return (line number, byte value) of the first byte of ``raw`` that is not UTF-8, or None if all is."""
    try:
        raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        return raw[: exc.start].count(b"\n") + 1, raw[exc.start]
    return None


def file_mode() -> int:
    """Return the mode a plainly created file gets under the process umask (0o644 under umask 022)."""
    with _UMASK_LOCK:  # os.umask can only be read by setting it
        umask = os.umask(0o022)
        os.umask(umask)
    return 0o666 & ~umask


def atomic_write(path: str | Path, write: Callable[[Path], object]) -> Path:
    """Call ``write(tmp_path)`` on a temporary file beside ``path``, then rename it over ``path``.

    The file gets the mode of a plainly created one (``file_mode``), not the temporary file's 0600,
    so colleagues on shared storage can read results as the umask allows.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.fchmod(fd, file_mode())
    os.close(fd)
    try:
        write(Path(tmp))
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    return path


def atomic_write_text(path: str | Path, text: str) -> Path:
    """Write ``text`` to ``path`` atomically; return the path."""
    return atomic_write(path, lambda tmp: tmp.write_text(text))


def atomic_write_json(path: str | Path, obj: Any) -> Path:
    """Write ``obj`` as indented JSON to ``path`` atomically; return the path."""
    return atomic_write_text(path, json.dumps(obj, indent=2, sort_keys=True, default=str) + "\n")


def read_jsonl(path: str | Path) -> list[dict]:
    """Return the records of a JSON-lines file (an incomplete last line, from a crash, is dropped)."""
    path = Path(path)
    if not path.exists():
        return []
    records = []
    for line in path.read_text().splitlines():
        try:
            records.append(json.loads(line))
        except json.JSONDecodeError:
            break
    return records


def unwritable(path: str | Path) -> str | None:
    """Return why nothing can be written at ``path``, naming its nearest existing ancestor ("/x is on
    read-only storage", "/x is not writable by this user"), or None when it can be."""
    existing = next(p for p in (Path(path), *Path(path).parents) if p.exists())
    if os.access(existing, os.W_OK | (os.X_OK if existing.is_dir() else 0)):
        return None
    read_only = os.statvfs(existing).f_flag & os.ST_RDONLY
    return f"{existing} {'is on read-only storage' if read_only else 'is not writable by this user'}"


def sqlite_unwritable(db: str | Path) -> str | None:
    """Return why a sqlite database at ``db`` could not be written (see ``unwritable``), or None; sqlite
    also writes a journal beside the file, so its folder counts."""
    return unwritable(db) or unwritable(Path(db).parent)
