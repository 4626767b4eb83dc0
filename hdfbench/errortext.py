"""Naming an error in one line, for messages and tables (Ray, MLflow and traceback texts span many)."""

from __future__ import annotations

import re

#: A line naming an exception as Python prints it last in a traceback: ``Type: message`` (dotted types too).
EXCEPTION_LINE = re.compile(r"^[A-Za-z_][\w.]*(Error|Exception|Exit|Interrupt)\b")


def error_line(error: BaseException | str | None, default: str = "unknown error") -> str:
    """Return the line of ``error`` that names it: in a text of several lines with ``Type: message`` lines (a
    traceback, or a Ray task error that lists no frames) the last of those, the exception that ended it;
    otherwise the first line (store errors append SQL and links below it). ``default`` when there is no text."""
    lines = [line.strip() for line in str(error or "").strip().splitlines() if line.strip()]
    if not lines:
        return default
    named = [line for line in lines[1:] if EXCEPTION_LINE.match(line)]
    return named[-1] if named else lines[0]
