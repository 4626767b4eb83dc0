"""What a configuration problem is and how it is reported: its key path, line and message (``Problem``), the
error that lists them (``ConfigError``). Both the loading and the component checks produce them."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from pydantic import ValidationError

Loc = tuple[str | int, ...]


@dataclass(frozen=True)
class Problem:
    """One configuration problem: where (key path, line) and what."""

    loc: Loc
    message: str
    line: int | None = None
    #: where the offending value came from when not from the file (``--set KEY=VALUE``)
    origin: str | None = None

    def render(self, source: str) -> str:
        """Return ``source:line: key.path: message`` (``--set KEY=VALUE: key.path: message`` for an override)."""
        where = self.origin or (f"{source}:{self.line}" if self.line else source)
        return f"{where}: {format_loc(self.loc) or '<top level>'}: {self.message}"


class ConfigError(ValueError):
    """An invalid experiment configuration; ``problems`` lists every problem found."""

    def __init__(self, source: str, problems: list[Problem]):
        self.source, self.problems = source, problems
        lines = [p.render(source) for p in problems]
        head = f"invalid experiment config {source} ({len(problems)} problem{'s' * (len(problems) > 1)}):"
        super().__init__("\n  ".join([head, *lines]))


def format_loc(loc: Iterable[str | int]) -> str:
    """Return a key path as ``a.b[0].c``."""
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


def pydantic_problems(exc: ValidationError, prefix: Loc = ()) -> list[Problem]:
    """Return the problems of a pydantic ``ValidationError`` at their key paths under ``prefix``."""
    problems = []
    for error in exc.errors():
        loc = prefix + tuple(error["loc"])
        message = error["msg"]
        if error["type"] == "extra_forbidden":
            message = "unknown key"
        problems.append(Problem(loc, message))
    return problems
