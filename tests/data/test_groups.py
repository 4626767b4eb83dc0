"""The Grouper against plain-Python group ids, names and counts, from tensors, arrays and tables."""

import math
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest
import torch

from hdfbench.data.groups import Grouper, definition_counts, field_codes, field_values, group_options

CLASSES = ("Happy", "Sad", "Angry")


def table(n: int = 60, seed: int = 0) -> pd.DataFrame:
    """Return clips with labels, a string field, an integer field and a boolean field."""
    rng = np.random.default_rng(seed)
    return pd.DataFrame(
        {
            "label": rng.integers(0, len(CLASSES), n),
            "source": rng.choice(["studio", "cctv", "web"], n),
            "subject": rng.integers(0, 12, n),
            "flag": rng.choice([True, False], n),
        }
    )


FIELDS = ("source", "subject", "flag")


def plain_values(column) -> list[str]:
    return sorted({str(v) for v in column})


def plain_group(definition: str, label: int, values: dict[str, str]) -> str:
    """Return the group name of one clip, spelt out per definition."""
    if definition == "class":
        return CLASSES[label]
    if definition.startswith("class*"):
        return CLASSES[label] + "|" + values[definition.removeprefix("class*")]
    return values[definition]


def plain_names(definition: str, codebook: dict[str, list[str]]) -> list[str]:
    if definition == "class":
        return list(CLASSES)
    field = definition.removeprefix("class*")
    if definition == field:
        return list(codebook[field])
    names = []
    for c in CLASSES:
        for v in codebook[field]:
            names.append(c + "|" + v)
    return names


def test_field_values_are_the_sorted_strings_of_every_table():
    a, b = table(seed=0), table(seed=1).assign(source="film")
    values = field_values([a, b], FIELDS)
    assert list(values) == list(FIELDS)
    for field in FIELDS:
        assert values[field] == plain_values(list(a[field]) + list(b[field]))


def test_field_codes_index_each_value_in_the_codebook():
    t = table()
    values = field_values([t], FIELDS)
    codes = field_codes(t, values)
    for field in FIELDS:
        assert [values[field][c] for c in codes[field]] == [str(v) for v in t[field]]


@pytest.mark.parametrize("definition", group_options(FIELDS))
@pytest.mark.parametrize("as_tensor", [True, False])
def test_ids_names_and_counts_match_a_plain_computation(definition, as_tensor):
    t = table()
    values = field_values([t], FIELDS)
    codes = field_codes(t, values)
    labels = t["label"].to_numpy()
    if as_tensor:
        labels, codes = torch.tensor(labels), {f: torch.tensor(c) for f, c in codes.items()}
    grouper = Grouper(definition, CLASSES, values)
    names = plain_names(definition, values)
    assert grouper.names == names
    clip_groups = [
        plain_group(definition, int(y), {f: str(t[f].iloc[i]) for f in FIELDS}) for i, y in enumerate(t["label"])
    ]
    ids = grouper.ids(labels, codes)
    assert isinstance(ids, torch.Tensor if as_tensor else np.ndarray)
    assert [names[i] for i in ids.tolist()] == clip_groups
    assert grouper.counts(labels, codes) == [clip_groups.count(name) for name in names]
    assert (grouper.table_names(t) == np.asarray(clip_groups, dtype=object)).all()


def test_definition_counts_cover_every_definition_in_order():
    t = table()
    values = field_values([t], FIELDS)
    codes = {f: torch.tensor(c) for f, c in field_codes(t, values).items()}
    counts = definition_counts(CLASSES, values, torch.tensor(t["label"].to_numpy()), codes)
    assert list(counts) == ["class", *FIELDS, *(f"class*{f}" for f in FIELDS)]
    for definition, got in counts.items():
        groups = [
            plain_group(definition, int(y), {f: str(t[f].iloc[i]) for f in FIELDS}) for i, y in enumerate(t["label"])
        ]
        assert got == tuple(groups.count(name) for name in plain_names(definition, values))


def test_task_info_counts_and_groupers_come_from_the_training_set():
    from hdfbench.data.clips import MemoryClips
    from hdfbench.data.loader import ClipSet
    from hdfbench.training.trainer import task_info

    t = table(n=90)
    values = field_values([t], FIELDS)
    train_set = ClipSet(MemoryClips(np.zeros((len(t), 1, 1, 1, 3), dtype=np.uint8)), t, values)
    task = task_info(train_set, CLASSES, values)
    assert task.class_counts == tuple(int((t["label"] == c).sum()) for c in range(len(CLASSES)))
    for definition in group_options(FIELDS):
        groups = [
            plain_group(definition, int(y), {f: str(t[f].iloc[i]) for f in FIELDS}) for i, y in enumerate(t["label"])
        ]
        names = plain_names(definition, values)
        assert task.grouper(definition).names == names
        assert task.counts_for(definition) == tuple(groups.count(name) for name in names)
    with pytest.raises(ValueError, match="'class\\*scene' are not available"):
        task.counts_for("class*scene")


def test_for_tables_groups_the_values_a_table_holds():
    t = table()
    grouper = Grouper.for_tables("class*source", CLASSES, [t])
    assert grouper.field_values == {"source": ["cctv", "studio", "web"]}
    assert Grouper.for_tables("class", CLASSES, [t]).field_values == {}


def test_a_missing_value_is_no_group_of_its_field_but_nan_within_its_class():
    t = pd.DataFrame({"label": [0, 1], "source": ["cctv", None]})
    field_names = Grouper.for_tables("source", CLASSES, [t]).table_names(t)
    assert field_names[0] == "cctv" and math.isnan(field_names[1])
    assert list(Grouper.for_tables("class*source", CLASSES, [t]).table_names(t)) == ["Happy|cctv", "Sad|nan"]


def test_the_data_layer_does_not_import_the_strategies():
    code = "import sys, hdfbench.data.loader; print('hdfbench.strategies' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
