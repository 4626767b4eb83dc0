"""Name → class registries filled by decorators, with entry points and ``module:Class`` names
(``config.components.registries`` returns the three of them)."""

from __future__ import annotations

import importlib
from importlib.metadata import entry_points
from typing import Callable, Generic, TypeVar

T = TypeVar("T")


class UnknownNameError(KeyError):
    """A name that is not registered; ``allowed`` lists the registered names."""

    def __init__(self, kind: str, name: str, allowed: list[str], detail: str = ""):
        self.kind, self.name, self.allowed = kind, name, allowed
        extra = f" ({detail})" if detail else ""
        super().__init__(f"unknown {kind} '{name}'{extra}; allowed: {', '.join(allowed)}")

    def __str__(self) -> str:
        return self.args[0]


class Registry(Generic[T]):
    """A registry of named classes of one kind.

    Names come from ``@registry.register("name")``, from the Python entry-point group given at
    construction (loaded on first lookup), or, for ``get``, from a ``"package.module:Class"``
    string that is imported on demand.
    """

    def __init__(self, kind: str, entry_point_group: str | None = None, base: type | None = None):
        self.kind = kind
        self._entries: dict[str, T] = {}
        self._group = entry_point_group
        self._base = base
        self._entry_points_loaded = entry_point_group is None

    def register(self, name: str) -> Callable[[T], T]:
        """Return a decorator that registers its argument under ``name``; duplicates raise."""

        def decorator(obj: T) -> T:
            if name in self._entries and self._entries[name] is not obj:
                raise ValueError(f"{self.kind} '{name}' is already registered by {self._entries[name]!r}")
            self._entries[name] = obj
            if isinstance(obj, type) and not getattr(obj, "name", None):
                setattr(obj, "name", name)  # noqa: B010  (a class of any kind: its type does not declare ``name``)
            return obj

        return decorator

    def _load_entry_points(self) -> None:
        if self._entry_points_loaded:
            return
        self._entry_points_loaded = True
        assert self._group is not None, "a registry without an entry-point group starts out loaded"
        for ep in entry_points(group=self._group):
            if ep.name not in self._entries:
                self.register(ep.name)(ep.load())

    def names(self) -> list[str]:
        """Return the registered names, sorted."""
        self._load_entry_points()
        return sorted(self._entries)

    def __contains__(self, name: str) -> bool:
        try:
            self.get(name)
        except UnknownNameError:
            return False
        return True

    def get(self, name: str) -> T:
        """Return the object registered as ``name`` (or importable as ``module:Class``)."""
        self._load_entry_points()
        if name in self._entries:
            return self._entries[name]
        if ":" in name:
            return self._import(name)
        raise UnknownNameError(self.kind, name, self.names())

    def _import(self, name: str) -> T:
        module_name, _, attr = name.partition(":")
        try:
            obj = getattr(importlib.import_module(module_name), attr)
        except (ImportError, AttributeError) as exc:
            raise UnknownNameError(self.kind, name, self.names(), f"cannot import: {exc}") from None
        if self._base is not None and not (isinstance(obj, type) and issubclass(obj, self._base)):
            raise UnknownNameError(self.kind, name, self.names(), f"not a subclass of {self._base.__name__}")
        return obj
