"""Naming an error in one line, for messages and tables (Ray, MLflow and traceback texts span many)."""

from __future__ import annotations

TRACEBACK = "Traceback (most recent call last)"


def error_line(error: BaseException | str | None, default: str = "unknown error") -> str:
    """Return the line of ``error`` that names it: for a traceback (as Ray reports a trial's exception) its last
    non-empty line, the ``Type: message`` one; otherwise the first (store errors append SQL and links below
    it). ``default`` when there is no text."""
    lines = [line.strip() for line in str(error or "").strip().splitlines() if line.strip()]
    if not lines:
        return default
    return lines[-1] if any(TRACEBACK in line for line in lines) else lines[0]
