"""Groups of clips: the classes, a metadata field's values, or class × field (WILDS's Grouper idea).

One definition serves GroupDRO's groups, group reweighting, group-balanced sampling, the group
counts strategies are told and the worst-group metrics, so they all agree on what a group is. A
field's values are compared as strings; their sorted order gives each value its integer code.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TypeVar

import numpy as np
import pandas as pd
import torch

#: Group ids and the labels and codes they come from: torch tensors or NumPy arrays alike.
Ids = TypeVar("Ids", torch.Tensor, np.ndarray)


def group_options(fields: Sequence[str]) -> list[str]:
    """Return every valid group definition for a dataset with metadata ``fields``."""
    return ["class", *fields, *(f"class*{f}" for f in fields)]


def group_problems(groups: str, fields: Sequence[str]) -> list[tuple[str, str]]:
    """Return a ("groups", problem) pair if ``groups`` is not a group definition of a dataset with ``fields``."""
    allowed = group_options(fields)
    if groups in allowed:
        return []
    return [("groups", f"'{groups}' is not a group of this dataset (allowed: {', '.join(allowed)})")]


def definition_field(definition: str) -> str | None:
    """Return the metadata field a group definition involves (None for ``class``)."""
    return None if definition == "class" else definition.removeprefix("class*")


def field_values(tables: Sequence[pd.DataFrame], fields: Sequence[str]) -> dict[str, list[str]]:
    """Return, per metadata field, the sorted values (as strings, missing ones left out) over all ``tables``:
    the value at index i has code i."""
    return {f: sorted({v for t in tables for v in t[f].astype(str).dropna()}) for f in fields}


def field_codes(table: pd.DataFrame, values: Mapping[str, Sequence[str]]) -> dict[str, np.ndarray]:
    """Return, per field of ``values``, each row's code: the index of its value (as a string) in ``values``."""
    return {f: table[f].astype(str).map({v: i for i, v in enumerate(vs)}).to_numpy() for f, vs in values.items()}


class Grouper:
    """Group ids, names and counts for a definition: ``class``, a metadata field, or ``class*<field>``.

    ``class_names`` are the classes in order; ``field_values`` maps each metadata field to its values
    in code order (the integer codes batches carry; see ``field_values``). Ids of ``class*<field>``
    are label × (number of values) + code, so names run over the values within each class.
    """

    def __init__(self, definition: str, class_names: Sequence[str], field_values: Mapping[str, Sequence[str]]):
        field = definition_field(definition)
        if field is not None and field not in field_values:
            raise ValueError(
                f"groups '{definition}' are not available (allowed: {', '.join(group_options(tuple(field_values)))})"
            )
        self.definition, self.field = definition, field
        self.class_names, self.field_values = list(class_names), field_values

    @classmethod
    def for_tables(cls, definition: str, class_names: Sequence[str], tables: Sequence[pd.DataFrame]) -> Grouper:
        """Return the Grouper of ``definition`` over the values its field takes in ``tables``."""
        field = definition_field(definition)
        return cls(definition, class_names, field_values(tables, () if field is None else (field,)))

    @property
    def names(self) -> list[str]:
        """Return the group names in id order (``class|value`` for products)."""
        if self.field is None:
            return self.class_names
        values = list(self.field_values[self.field])
        if self.definition == self.field:
            return values
        return [f"{c}|{v}" for c in self.class_names for v in values]

    def ids(self, labels: Ids, codes: Mapping[str, Ids]) -> Ids:
        """Return each clip's group id from its label and its metadata codes (tensors or arrays)."""
        if self.field is None:
            return labels
        code = codes[self.field]
        if self.definition == self.field:
            return code
        return labels * len(self.field_values[self.field]) + code

    def counts(self, labels: Ids, codes: Mapping[str, Ids]) -> list[int]:
        """Return the number of clips in each group (zeros included), in id order."""
        ids = self.ids(labels, codes)
        if isinstance(ids, np.ndarray):
            return np.bincount(ids, minlength=len(self.names)).tolist()
        return torch.bincount(ids, minlength=len(self.names)).tolist()

    def table_names(self, table: pd.DataFrame) -> np.ndarray:
        """Return the group name of each row of ``table`` from its ``label`` and field columns.

        A row whose field value is missing is in no group of the field (its name is NaN) and in the
        class × field group of the value ``nan``.
        """
        classes = np.asarray(self.class_names, dtype=object)[table["label"].to_numpy()]
        if self.field is None:
            return classes
        values = table[self.field].astype(str)
        if self.definition == self.field:
            return np.asarray(values)
        return classes + "|" + np.asarray(values, dtype=object).astype(str)


def definition_counts(
    class_names: Sequence[str],
    values: Mapping[str, Sequence[str]],
    labels: torch.Tensor,
    codes: Mapping[str, torch.Tensor],
) -> dict[str, tuple[int, ...]]:
    """Return the clip count of each group of every definition (``group_options`` order), in id order."""
    return {d: tuple(Grouper(d, class_names, values).counts(labels, codes)) for d in group_options(tuple(values))}
