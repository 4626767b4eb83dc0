"""The named components of a config checked against their registries: each dataset's options, each strategy's
hyperparameters (and what they need of the datasets and the backbone), the backbone's options; ``registries``
is every component registry by its plural name.

Above the strategies, datasets and backbones it looks up (the schema in ``experiment.py`` sits below them).
"""

from __future__ import annotations

from typing import Any

from pydantic import ValidationError

from hdfbench.config.experiment import ModelSpec
from hdfbench.config.problems import Loc, Problem, pydantic_problems
from hdfbench.data import DATASETS
from hdfbench.data.groups import group_options
from hdfbench.models import BACKBONES
from hdfbench.registry import Registry, UnknownNameError
from hdfbench.schema import StrictModel
from hdfbench.strategies import STRATEGIES


def registries() -> dict[str, Registry]:
    """Return every component registry by the plural name the CLI and config errors use ("strategies",
    "datasets", "backbones"), with the built-ins registered."""
    return {"strategies": STRATEGIES, "datasets": DATASETS, "backbones": BACKBONES}


def _component_items(raw: dict) -> list[tuple[Loc, str, Any, Any, str]]:
    """Return (location, registry kind, name, options, options key) of each named component in ``raw``."""
    items: list[tuple[Loc, str, Any, Any, str]] = []
    for key, kind, options_key in (("datasets", "datasets", "options"), ("strategies", "strategies", "hparams")):
        entries = raw.get(key)
        for i, entry in enumerate(entries if isinstance(entries, list) else []):
            if isinstance(entry, dict) and isinstance(entry.get("name"), str):
                items.append(((key, i), kind, entry["name"], entry.get(options_key, {}), options_key))
    model = raw.get("model", {})
    if isinstance(model, dict):
        items.append(
            (("model",), "backbones", model.get("backbone", ModelSpec().backbone), model.get("options", {}), "options")
        )
    return items


#: Training settings a search space may name with a dotted path.
SEARCHABLE_TRAINING = ("training.optimizer.lr", "training.optimizer.weight_decay", "training.batch_size")


def _search_space_problems(entry: dict, hparams: type[StrictModel], loc: Loc) -> list[Problem]:
    """Return problems with the names of a strategy's search space (ranges are checked by pydantic)."""
    space = (entry.get("search") or {}).get("space") if isinstance(entry.get("search"), dict) else None
    if not isinstance(space, dict):
        return []
    allowed = [*hparams.model_fields, *SEARCHABLE_TRAINING]
    return [
        Problem(loc + ("search", "space", name), f"cannot search '{name}' (allowed: {', '.join(allowed)})")
        for name in space
        if name not in allowed
    ]


def _balance_problems(entry: dict, dataset: str, fields: tuple[str, ...], loc: Loc) -> list[Problem]:
    """Return a problem if the entry's ``balance_groups`` are not groups of ``dataset`` (with ``fields``)."""
    groups, allowed = entry.get("balance_groups", "class"), group_options(fields)
    if not isinstance(groups, str) or groups in allowed:
        return []
    return [
        Problem(
            loc + ("balance_groups",),
            f"'{groups}' are not groups of dataset '{dataset}' (allowed: {', '.join(allowed)})",
        )
    ]


def _configured_backbone(raw: dict) -> type | None:
    """Return the class of the configured backbone (None when it is unknown: reported elsewhere)."""
    model = raw.get("model", {})
    name = model.get("backbone", ModelSpec().backbone) if isinstance(model, dict) else None
    try:
        return BACKBONES.get(name) if isinstance(name, str) else None
    except UnknownNameError:
        return None


def component_problems(raw: dict) -> tuple[list[Problem], dict[Loc, type[StrictModel]]]:
    """Validate each named component's options; return problems and the option schemas by location."""
    problems: list[Problem] = []
    schemas: dict[Loc, type[StrictModel]] = {}
    folds = raw.get("folds", [1])
    items = _component_items(raw)
    dataset_fields = []  # (name, group fields, classes) of every dataset whose options validate
    for _loc, kind, name, options, _key in items:
        if kind == "datasets" and name in DATASETS:
            cls = DATASETS.get(name)
            try:
                validated_options = cls.Options(**options)
                dataset_fields.append(
                    (name, cls.group_fields_for(validated_options), cls.classes_for(validated_options))
                )
            except (ValidationError, TypeError):
                pass  # reported below
    backbone = _configured_backbone(raw)
    for loc, kind, name, options, key in items:
        registry = registries()[kind]
        try:
            cls = registry.get(name)
        except UnknownNameError as exc:
            problems.append(Problem(loc + ("backbone" if kind == "backbones" else "name",), str(exc)))
            continue
        schema = cls.Hparams if key == "hparams" else cls.Options
        schemas[loc + (key,)] = schema
        if not isinstance(options, dict):
            continue  # the structural pass reports the wrong type
        try:
            validated = schema(**options)
        except ValidationError as exc:
            problems += pydantic_problems(exc, loc + (key,))
            validated = None
        if kind == "backbones" and validated is not None and (check := getattr(cls, "check_options", None)):
            problems += [Problem(loc + (key, field), message) for field, message in check(validated)]  # weights
        if kind == "strategies" and validated is not None and backbone is not None:
            problems += [
                Problem(loc + (key, field), message) for field, message in cls.check_backbone(validated, backbone)
            ]
        if kind == "strategies" and validated is not None:
            for dataset, fields, classes in dataset_fields:
                found = cls.check_dataset(validated, fields)
                found += cls.check_classes(validated, classes) if classes else []
                problems += [Problem(loc + (key, field), f"{message} [dataset {dataset}]") for field, message in found]
                problems += _balance_problems(raw["strategies"][loc[1]], dataset, fields, loc)
        if kind == "strategies":
            problems += _search_space_problems(raw["strategies"][loc[1]], schema, loc)
        allowed = () if kind != "datasets" else (cls.folds_for(validated) if validated is not None else cls.folds)
        bad = [f for f in folds if f not in allowed] if allowed and isinstance(folds, list) else []
        if bad:
            problems.append(Problem(("folds",), f"dataset '{name}' has no fold {bad} (allowed: {list(allowed)})"))
    return problems, schemas
