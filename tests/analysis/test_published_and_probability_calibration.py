"""The literature beside the measured rows: published numbers, best-on-test (oracle) columns, and the probability
calibration (ECE, NLL, Brier) of each run's saved logits, through summary.csv, the tables, the figure and the
report. (``test_calibration.py`` is about the calibration of the statistical tests, a different thing.)"""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from hdfbench import metrics
from hdfbench.analysis.pipeline import Options, analyze
from hdfbench.analysis.published import PUBLISHED_COLUMNS, load_published, measured_protocol, published_beside
from hdfbench.testing.fake_results import FakeSpec, make_results
from hdfbench.training.selection import ORACLE_LABEL

REFERENCE = Path(__file__).resolve().parents[3] / "shared" / "reference" / "datasets.md"


def _section_5() -> str:
    if not REFERENCE.exists():
        pytest.skip(f"{REFERENCE} is not here (the reference notes live beside the repository)")
    text = REFERENCE.read_text()
    return text[text.index("## 5. Published results") : text.index("## 6.")]


def test_every_published_number_is_in_the_reference_notes():
    section, table = _section_5(), load_published()
    assert tuple(table.columns) == PUBLISHED_COLUMNS and set(table["dataset"]) == {"DFEW", "FERV39k", "MAFW"}
    for _, row in table.iterrows():
        for metric in ("uar", "war"):
            if pd.notna(row[metric]):
                assert f"{100 * row[metric]:.2f}" in section, (row["method"], row["dataset"], metric)
        assert row["source"], row["method"]
    # the main-table rows of §5, read from its Markdown table: method → DFEW and FERV39k UAR / WAR
    for line in section.splitlines():
        cells = [c.strip() for c in line.strip("|").split("|")]
        if len(cells) != 6 or not re.fullmatch(r"[\d.]+", cells[1]):
            continue
        method = cells[0].split(" (")[0].split(" / ")[-1]
        for dataset, (uar, war) in (("DFEW", cells[1:3]), ("FERV39k", cells[3:5])):
            if not re.fullmatch(r"[\d.]+", uar):
                continue
            rows = table[(table["dataset"] == dataset) & table["method"].str.contains(method, regex=False)]
            pairs = {(f"{100 * u:.2f}", f"{100 * w:.2f}") for u, w in zip(rows["uar"], rows["war"], strict=True)}
            assert (uar, war) in pairs, (method, dataset, uar, war, pairs)


def test_no_published_row_is_called_comparable():
    protocol = {"backbone": "x3d_s", "pretraining": "from scratch", "frames": "16", "selected_on": "inner validation"}
    rows = published_beside(["dfew", "synthetic", "mafw"], {"dfew": protocol, "mafw": protocol})
    assert set(rows["dataset"]) == {"dfew", "mafw"}  # a dataset without a published table gets none
    assert rows["comparable"].str.startswith("not comparable: epoch selection: ").all()
    assert rows["differs"].str.contains("epoch selection").all()
    r3d = {**protocol, "backbone": measured_protocol({"spec": {"model": {"backbone": "r3d_18"}}})["backbone"]}
    resnet = published_beside(["dfew"], {"dfew": r3d})
    assert not resnet.loc[resnet["method"] == "3D ResNet-18", "differs"].str.contains("backbone").any()


def _with_oracle_records(experiment: Path) -> None:
    """Mark every fake run as one with ``selection.report_oracle`` and give its epochs test UAR / WAR."""
    rng = np.random.default_rng(1)
    for run in (experiment / "runs").iterdir():
        config = json.loads((run / "config.json").read_text())
        config["spec"]["selection"] = {"rule": "best_val_uar", "report_oracle": True}
        (run / "config.json").write_text(json.dumps(config))
        records = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
        for record in records:
            record.update(
                {"oracle/test_uar": float(rng.uniform(0.3, 0.9)), "oracle/test_war": float(rng.uniform(0.3, 0.9))}
            )
        (run / "metrics.jsonl").write_text("".join(json.dumps(r) + "\n" for r in records))


@pytest.fixture(scope="module")
def literature(tmp_path_factory):
    root = tmp_path_factory.mktemp("literature")
    spec = FakeSpec(experiment="lit", datasets=("dfew", "d2"), folds=(1, 2, 3), seeds=(0, 1), n_test=300)
    experiment = make_results(root, spec)
    (experiment / "summary.csv").unlink()  # recomputed from the run directories, as a real sweep's
    _with_oracle_records(experiment)
    return analyze(experiment, root / "out", Options(mlflow=False))


def test_summary_calibration_columns_are_those_of_the_saved_logits(literature):
    summary = literature.experiment.summary
    for row in summary.head(4).itertuples():
        predictions = pd.read_parquet(literature.experiment.run_path(row.run_id) / "predictions.parquet")
        test = predictions[predictions["split"] == "test"]
        logits = test[[f"logit_{k}" for k in range(7)]].to_numpy(dtype=float)
        p = metrics.softmax(logits)
        assert row.test_ece == pytest.approx(metrics.expected_calibration_error(p, test["label"]), abs=1e-12)
        assert row.test_nll == pytest.approx(metrics.negative_log_likelihood(logits, test["label"]), abs=1e-12)
        assert row.test_brier == pytest.approx(metrics.brier_score(p, test["label"]), abs=1e-12)


def test_calibration_table_figure_and_report_section(literature):
    table, summary = literature.frames["calibration"], literature.experiment.summary
    means = summary.groupby(["dataset", "variant"])["test_ece"].mean()
    for row in table.itertuples():
        assert row.test_ece_mean == pytest.approx(means[(row.dataset, row.variant)])
    assert "reliability_diagram" in {f.name for f in literature.figures}
    md = (literature.out_dir / "report.md").read_text()
    calibration = md[md.index("## Calibration") : md.index("## Ablation")]
    assert "ECE (%)" in calibration and "NLL (nats)" in calibration and "figures/reliability_diagram.png" in calibration
    assert (literature.out_dir / "tables" / "calibration.csv").exists()


def test_oracle_columns_are_reported_beside_the_selection(literature):
    summary, table = literature.experiment.summary, literature.frames["oracle"]
    assert (summary["oracle_test_uar_epoch"] >= 0).all() and summary["oracle_test_war"].notna().all()
    gaps = (summary["oracle_test_uar"] - summary["test_uar"]).groupby([summary["dataset"], summary["variant"]]).mean()
    for row in table.itertuples():
        assert row.gap_uar_mean == pytest.approx(gaps[(row.dataset, row.variant)])
    md = (literature.out_dir / "report.md").read_text()
    assert ORACLE_LABEL in md and "UAR selected on test (%)" in md and "UAR gap (pp)" in md
    assert "oracle_test_uar" not in set(literature.frames["statistics"]["metric"])


def test_published_rows_sit_beside_their_dataset_and_nowhere_else(literature):
    main = (literature.out_dir / "tables" / "main_table.md").read_text()
    assert "[published] MAE-DFER (MM'23)" in main and "74.43" in main and "63.41" in main
    assert "published, not comparable (epoch selection" in main
    lines = [line for line in main.splitlines() if line.startswith("|") and "[published]" in line]
    assert lines and all(line.split("|")[1].strip() == "dfew" for line in lines)  # d2 has no published table
    numeric = literature.frames["main_table"]  # the numbers the captions, statistics and ranks read
    assert not numeric["variant"].str.contains("published").any()
    for name in ("statistics", "comparisons", "ranks"):
        frame = literature.frames.get(name, pd.DataFrame())
        assert not frame.astype(str).apply(lambda c: c.str.contains("MAE-DFER")).any().any(), name
    md = (literature.out_dir / "report.md").read_text()
    main_section = md[md.index("## Main results") : md.index("## Calibration")]
    assert "Published UAR / WAR on DFEW" in main_section and "not comparable" in main_section
