"""Published DFEW / FERV39k / MAFW results, shown beside the measured rows of the same dataset.

The numbers are a data file shipped in the package (``published_results.csv``, UAR and WAR in % as
published, one row per value and source where sources disagree). They are never measured here, never
enter a statistic, a rank or a caption's "best", and every row says why it is not comparable with
this sweep's runs (the epoch selection, the backbone, the pretraining, the frames).
"""

from __future__ import annotations

import importlib.resources
import io

import pandas as pd

#: The shipped table, inside ``hdfbench.analysis``.
PUBLISHED_FILE = "published_results.csv"
#: Its columns, in order.
PUBLISHED_COLUMNS = (
    "dataset",
    "method",
    "venue",
    "uar",
    "war",
    "backbone",
    "pretraining",
    "frames",
    "selected_on",
    "source",
    "note",
)
#: Registered dataset name → the dataset name of the published table.
PUBLISHED_DATASETS = {"dfew": "DFEW", "ferv39k": "FERV39k", "mafw": "MAFW"}
#: Registered backbone name → the published table's name of the same network (the others have none there).
PUBLISHED_BACKBONES = {"r3d_18": "3D ResNet-18", "r2plus1d_18": "R(2+1)D-18"}
#: What the report calls a published row.
PUBLISHED_LABEL = "published"


def load_published() -> pd.DataFrame:
    """Return the shipped published results: ``PUBLISHED_COLUMNS``, ``uar`` and ``war`` as fractions (NaN
    where the source gives none), the text columns as strings ("" where empty)."""
    text = importlib.resources.files("hdfbench.analysis").joinpath(PUBLISHED_FILE).read_text(encoding="utf-8")
    table = pd.read_csv(io.StringIO(text), dtype=str, keep_default_na=False)
    if tuple(table.columns) != PUBLISHED_COLUMNS:
        raise ValueError(f"{PUBLISHED_FILE}: columns {list(table.columns)}, expected {list(PUBLISHED_COLUMNS)}")
    for metric in ("uar", "war"):
        table[metric] = pd.to_numeric(table[metric].replace("", None), errors="raise") / 100
    return table


def published_dataset(dataset: str) -> str | None:
    """Return the published table's name of a registered dataset name (``dfew`` → ``DFEW``), else None."""
    return PUBLISHED_DATASETS.get(dataset.lower())


def measured_protocol(run_config: dict) -> dict[str, str]:
    """Return how a run was set up, from its config.json, in the published table's terms: ``backbone`` (the
    table's name where it lists the same network: ``PUBLISHED_BACKBONES``),
    ``pretraining`` ("from scratch" or the weights file's name), ``frames`` and ``selected_on`` ("inner
    validation (<rule>)"); "unknown" for what the config does not say."""
    spec = run_config.get("spec", {})
    model, options = spec.get("model", {}), spec.get("dataset", {}).get("options", {})
    pretrained = model.get("options", {}).get("pretrained") if model else None
    rule = spec.get("selection", {}).get("rule", "unknown")
    weights = f"weights {str(pretrained).rsplit('/', 1)[-1]}" if pretrained else "from scratch"
    backbone = model.get("backbone", "unknown") if model else "unknown"
    return {
        "backbone": PUBLISHED_BACKBONES.get(backbone, backbone),
        "pretraining": weights if model else "unknown",
        "frames": str(options.get("frames", "unknown")),
        "selected_on": f"inner validation ({rule})",
    }


def _leading_number(text: str) -> int | None:
    head = text.split(" ", 1)[0]
    return int(head) if head.isdigit() else None


def not_comparable(published: pd.Series, measured: dict[str, str]) -> dict[str, str]:
    """Return why a published row is not comparable with runs set up as ``measured``: what differs (or is not
    recorded) → "theirs vs ours". Every published row has at least ``epoch selection``: none selected on an
    inner validation split."""
    reasons = {"epoch selection": f"{published['selected_on'] or 'not stated'} vs {measured['selected_on']} here"}
    if published["backbone"] != measured["backbone"]:
        reasons["backbone"] = f"{published['backbone'] or 'not recorded'} vs {measured['backbone']}"
    if published["pretraining"] != measured["pretraining"]:
        reasons["pretraining"] = f"{published['pretraining'] or 'not recorded'} vs {measured['pretraining']}"
    theirs, ours = _leading_number(published["frames"]), _leading_number(measured["frames"])
    if theirs is None or theirs != ours:
        reasons["frames"] = f"{published['frames'] or 'not recorded'} vs {measured['frames']}"
    return reasons


def published_beside(datasets: list[str], protocols: dict[str, dict[str, str]]) -> pd.DataFrame:
    """Return the published rows of the measured ``datasets`` (registered names; others have none), each
    with ``dataset`` set to the measured name, ``published_dataset``, ``differs`` (what differs from that
    dataset's measured protocol ``protocols[dataset]``, from ``measured_protocol``, ", "-joined) and
    ``comparable`` ("not comparable: " and each difference, theirs vs ours)."""
    table, frames = load_published(), []
    for dataset in datasets:
        name = published_dataset(dataset)
        if name is None:
            continue
        rows = table[table["dataset"] == name].copy()
        measured = protocols.get(dataset) or measured_protocol({})
        reasons = [not_comparable(row, measured) for _, row in rows.iterrows()]
        rows["differs"] = [", ".join(r) for r in reasons]
        rows["comparable"] = ["not comparable: " + "; ".join(f"{k}: {v}" for k, v in r.items()) for r in reasons]
        frames.append(rows.rename(columns={"dataset": "published_dataset"}).assign(dataset=dataset))
    columns = ["dataset", "published_dataset", *PUBLISHED_COLUMNS[1:], "differs", "comparable"]
    return pd.concat(frames, ignore_index=True)[columns] if frames else pd.DataFrame(columns=columns)
