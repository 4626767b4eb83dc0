"""Groups of clips: the classes, a metadata field's values, or class × field (WILDS's Grouper idea).

One definition serves GroupDRO's groups and group-balanced sampling, so the two always agree on
what a group is.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import torch


def group_options(fields: Sequence[str]) -> list[str]:
    """Return every valid group definition for a dataset with metadata ``fields``."""
    return ["class", *fields, *(f"class*{f}" for f in fields)]


def group_problems(groups: str, fields: Sequence[str]) -> list[tuple[str, str]]:
    """Return a ("groups", problem) pair if ``groups`` is not a group definition of a dataset with ``fields``."""
    allowed = group_options(fields)
    if groups in allowed:
        return []
    return [("groups", f"'{groups}' is not a group of this dataset (allowed: {', '.join(allowed)})")]


class Grouper:
    """Group ids and names for a definition: ``class``, a metadata field, or ``class*<field>``.

    ``class_names`` are the classes in order; ``field_values`` maps each metadata field to its values
    in code order (the integer codes batches carry).
    """

    def __init__(self, definition: str, class_names: Sequence[str], field_values: Mapping[str, Sequence[str]]):
        field = definition.removeprefix("class*")
        if definition != "class" and field not in field_values:
            raise ValueError(f"groups '{definition}' are not available (allowed: "
                             f"{', '.join(group_options(tuple(field_values)))})")
        self.definition, self.field = definition, None if definition == "class" else field
        self.class_names, self.field_values = list(class_names), field_values

    @property
    def names(self) -> list[str]:
        """Return the group names in id order (``class|value`` for products)."""
        if self.field is None:
            return self.class_names
        values = list(self.field_values[self.field])
        if self.definition == self.field:
            return values
        return [f"{c}|{v}" for c in self.class_names for v in values]

    def ids(self, labels: torch.Tensor, codes: dict[str, torch.Tensor]) -> torch.Tensor:
        """Return each clip's group id from its label and metadata codes."""
        if self.field is None:
            return labels
        field_codes = codes[self.field]
        if self.definition == self.field:
            return field_codes
        return labels * len(self.field_values[self.field]) + field_codes

    def counts(self, labels: torch.Tensor, codes: dict[str, torch.Tensor]) -> list[int]:
        """Return the number of clips in each group (zeros included), in id order."""
        return torch.bincount(self.ids(labels, codes), minlength=len(self.names)).tolist()
