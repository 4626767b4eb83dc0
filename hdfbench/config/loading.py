"""Loading an experiment config from YAML, with precise error messages.

Loading happens in two passes. The structure (keys, types, ranges) is checked by pydantic; then
each named component (dataset, strategy, backbone) is looked up in its registry and its own
options are validated against the component's schema. Every problem is reported with the file,
the line and the key path, e.g. ``quickstart.yaml:12: strategies[0].hparams.gama: ...``, or with the
``--set`` item the value came from.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from hdfbench.config.components import component_problems
from hdfbench.config.experiment import (
    ExperimentConfig,
)
from hdfbench.config.problems import ConfigError, Loc, Problem, format_loc, pydantic_problems
from hdfbench.fileio import first_non_utf8, sqlite_unwritable, unwritable
from hdfbench.schema import StrictModel


def _nodes(text: str) -> Iterator[tuple[Loc, yaml.Node, yaml.Node | None]]:
    """Yield (key path, node, its key's node or None) for every node of a YAML document, in document order."""

    def walk(node: yaml.Node, loc: Loc, key: yaml.Node | None) -> Iterator[tuple[Loc, yaml.Node, yaml.Node | None]]:
        yield loc, node, key
        if isinstance(node, yaml.MappingNode):
            for key_node, value in node.value:
                yield from walk(value, loc + (key_node.value,), key_node)
        elif isinstance(node, yaml.SequenceNode):
            for i, item in enumerate(node.value):
                yield from walk(item, loc + (i,), None)

    root = yaml.compose(text, Loader=yaml.SafeLoader)
    if root is not None:
        yield from walk(root, (), None)


def _line_index(text: str) -> dict[Loc, int]:
    """Return the 1-based line of every key path in a YAML document (a mapping value: its key's line)."""
    return {loc: (key or node).start_mark.line + 1 for loc, node, key in _nodes(text)}


def _duplicate_keys(text: str) -> list[Problem]:
    """Return a problem for every key repeated within one mapping."""
    problems = []
    for loc, node, _ in _nodes(text):
        seen: set[str] = set()
        for key, _value in node.value if isinstance(node, yaml.MappingNode) else ():
            if key.value in seen:
                problems.append(Problem(loc + (key.value,), "duplicate key", key.start_mark.line + 1))
            seen.add(key.value)
    return problems


def _line_of(index: dict[Loc, int], loc: Loc) -> int | None:
    for end in range(len(loc), -1, -1):
        if loc[:end] in index:
            return index[loc[:end]]
    return None


def _with_allowed_keys(problems: list[Problem], schema_at: dict[Loc, type[StrictModel]]) -> list[Problem]:
    """Append the allowed keys to every 'unknown key' problem whose parent schema is known."""
    out = []
    for p in problems:
        parent = schema_at.get(p.loc[:-1])
        if p.message == "unknown key" and parent is not None:
            p = Problem(p.loc, f"unknown key (allowed: {', '.join(parent.model_fields)})", p.line)
        out.append(p)
    return out


def _schemas_by_loc(raw: Any) -> dict[Loc, type[StrictModel]]:
    """Return the schema class in force at each mapping of a raw config (for 'allowed keys' hints)."""
    out: dict[Loc, type[StrictModel]] = {}

    def walk(model: type[StrictModel], value: Any, loc: Loc) -> None:
        out[loc] = model
        if not isinstance(value, dict):
            return
        for key, field in model.model_fields.items():
            for sub in _submodels(field.annotation):
                item = value.get(key)
                if isinstance(item, list):
                    for i, element in enumerate(item):
                        walk(sub, element, loc + (key, i))
                else:
                    walk(sub, item, loc + (key,))

    walk(ExperimentConfig, raw, ())
    return out


def _submodels(annotation: Any) -> list[type[StrictModel]]:
    if isinstance(annotation, type) and issubclass(annotation, StrictModel):
        return [annotation]
    return [sub for arg in getattr(annotation, "__args__", ()) for sub in _submodels(arg)]


def _sqlite_path(uri: str) -> Path | None:
    """Return the database file of a ``sqlite:///`` URI (None for other stores)."""
    return Path(uri.removeprefix("sqlite:///")).resolve() if uri.startswith("sqlite:///") else None


def _consistency_problems(config: ExperimentConfig) -> list[Problem]:
    """Return problems between settings that are each valid alone (device vs. resources, storage vs. cluster)."""
    problems = []
    if config.training.device == "cuda" and config.resources.gpu == 0:
        problems.append(
            Problem(
                ("training", "device"),
                "'cuda' needs resources.gpu > 0: Ray gives GPUs only to "
                "trials that ask for one (set resources.gpu: 1, or 0.5 to share a GPU)",
            )
        )
    output = Path(config.output_dir)
    local = "://" not in config.output_dir
    existing = next((p for p in (output, *output.parents) if p.exists()), None) if local else None
    if existing is not None and not existing.is_dir():
        problems.append(
            Problem(("output_dir",), f"{existing} is a file; output_dir must be a folder (or not exist yet)")
        )
    elif existing is not None and (problem := unwritable(existing)):
        problems.append(Problem(("output_dir",), problem))
    if "://" in config.output_dir:
        problems.append(
            Problem(
                ("output_dir",),
                "must be a folder path on storage every node mounts (a shared "
                "filesystem); object-store URIs are not supported (docs/cluster.md)",
            )
        )
    if config.ray.address and config.ray.address.startswith("ray://"):
        problems.append(
            Problem(
                ("ray", "address"),
                "Ray Client (ray://) is not supported: run hdfbench on a "
                "node of the cluster and give the head's HOST:PORT (docs/cluster.md)",
            )
        )
    sqlite = _sqlite_path(config.tracking_uri()) if config.tracking.enabled else None
    if config.tracking.uri and sqlite is not None and (problem := sqlite_unwritable(sqlite)):
        problems.append(Problem(("tracking", "uri"), f"the MLflow store: {problem}"))
    if config.ray.address and sqlite is not None:
        shared = Path(config.output_dir).resolve()
        if not config.tracking.allow_shared_sqlite:
            problems.append(
                Problem(
                    ("tracking", "uri"),
                    f"a sqlite store ({sqlite}) cannot be shared by the nodes "
                    "of a Ray cluster: run an MLflow tracking server and set tracking.uri: "
                    "http://HOST:PORT (docs/cluster.md), or set tracking.allow_shared_sqlite: true "
                    "with the file on the shared output_dir",
                )
            )
        elif not sqlite.is_relative_to(shared):
            problems.append(
                Problem(
                    ("tracking", "uri"),
                    f"the sqlite file {sqlite} is not under output_dir "
                    f"({shared}), the only path the preflight checks is shared by every node",
                )
            )
    return problems


def _origin(overridden: dict[Loc, str], loc: Loc) -> str | None:
    """Return ``--set ITEM`` if the value at ``loc`` came from (or lies under) an override, else None."""
    for end in range(len(loc), 0, -1):
        if loc[:end] in overridden:
            return f"--set {overridden[loc[:end]]}"
    return None


def parse_config(
    raw: Any, source: str = "<config>", text: str | None = None, overridden: dict[Loc, str] | None = None
) -> ExperimentConfig:
    """Return the validated config for a raw mapping; raise ``ConfigError`` listing all problems.

    ``overridden`` maps the key paths set by ``--set`` to their items, so problems there name the item
    rather than a line of the file.
    """
    overridden = overridden or {}
    index = _line_index(text) if text else {}
    problems = _duplicate_keys(text) if text else []
    if not isinstance(raw, dict):
        raise ConfigError(source, [Problem((), "the file must hold a mapping of keys to values")])
    schemas = _schemas_by_loc(raw)
    config = None
    try:
        config = ExperimentConfig(**raw)
    except ValidationError as exc:
        problems += pydantic_problems(exc)
    found, component_schemas = component_problems(raw)
    problems += found
    if config is not None:
        problems += _consistency_problems(config)
    schemas.update(component_schemas)
    if problems:
        problems = [
            Problem(p.loc, p.message, None, origin)
            if (origin := _origin(overridden, p.loc))
            else Problem(p.loc, p.message, p.line or _line_of(index, p.loc))
            for p in _with_allowed_keys(problems, schemas)
        ]
        raise ConfigError(source, sorted(problems, key=lambda p: (p.line or 0, format_loc(p.loc))))
    assert config is not None, "a ValidationError always adds problems"
    return config


def _override_parts(item: str) -> list[str | int]:
    """Return the key path of a ``KEY.PATH=VALUE`` item (numbers are list indices)."""
    key, sep, _ = item.partition("=")
    if not sep or not key:
        raise ConfigError("--set", [Problem((), f"expected KEY.PATH=VALUE, got '{item}'")])
    return [int(p) if re.fullmatch(r"\d+", p) else p for p in key.split(".")]


def apply_overrides(raw: dict, overrides: Iterable[str]) -> dict:
    """Return ``raw`` with ``key.path=value`` overrides applied (values parsed as YAML)."""
    for item in overrides:
        parts, value = _override_parts(item), item.partition("=")[2]
        try:
            parsed = yaml.safe_load(value)
        except yaml.YAMLError as exc:
            raise ConfigError(
                "--set",
                [Problem(tuple(parts), f"the value '{value}' is not valid YAML ({getattr(exc, 'problem', exc)})")],
            ) from None
        _set_path(raw, parts, parsed)
    return raw


def _set_path(raw: dict, parts: list[str | int], value: Any) -> None:
    """Set ``value`` at the key path ``parts`` of ``raw``, creating mappings on the way; list indices must exist."""
    node: Any = raw
    for depth, part in enumerate(parts):
        where, last = format_loc(parts[:depth]) or "the top level", depth == len(parts) - 1
        if isinstance(node, list):
            if not isinstance(part, int) or part >= len(node):
                raise ConfigError(
                    "--set",
                    [
                        Problem(
                            tuple(parts),
                            f"{where} is a list of {len(node)} entries; give an index from 0 to {len(node) - 1}",
                        )
                    ],
                )
        elif not isinstance(node, dict):
            raise ConfigError("--set", [Problem(tuple(parts), f"{where} is a value, not a mapping or a list")])
        key: Any = part if isinstance(node, list) else str(part)
        if last:
            node[key] = value
        else:
            node = node[key] if isinstance(node, list) else node.setdefault(key, {})


def load_config(path: str | Path, overrides: Iterable[str] = ()) -> ExperimentConfig:
    """Return the validated experiment config in the YAML file ``path`` (with optional overrides)."""
    path = Path(path)
    if not path.is_file():
        problem = "is a folder, not a YAML file" if path.is_dir() else "file not found"
        raise ConfigError(str(path), [Problem((), problem)])
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError:
        line, byte = first_non_utf8(path.read_bytes()) or (1, 0)
        raise ConfigError(str(path), [Problem((), f"not UTF-8 text (byte 0x{byte:02x})", line)]) from None
    except OSError as exc:
        raise ConfigError(str(path), [Problem((), f"cannot be read ({exc.strerror})")]) from None
    try:
        raw = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        at = exc.problem_mark.line + 1 if getattr(exc, "problem_mark", None) else None
        raise ConfigError(str(path), [Problem((), f"not valid YAML: {getattr(exc, 'problem', exc)}", at)]) from None
    overrides = list(overrides)
    raw = apply_overrides(raw, overrides) if overrides and isinstance(raw, dict) else raw
    overridden = {tuple(_override_parts(item)): item for item in overrides}
    return parse_config(raw, str(path), text, overridden)
