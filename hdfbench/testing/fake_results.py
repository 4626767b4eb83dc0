"""Generated results directories with known effects, for the analysis tests and the scale benchmark.

Every (dataset, fold) draws imbalanced test labels, every (dataset, fold, seed) cell a difficulty
shared by all variants, and every (dataset, fold, variant) an optional fold-specific effect
(``fold_sd``, shared by the seeds of the fold); a variant's clip is correct with probability
``base_accuracy + cell difficulty + fold effect + its effect (+ its effect on the clip's class)``.
A variant with effect 0 is identical *in distribution* to the reference (independent draws), so a
correct analysis must not flag it; one with a large effect must be flagged.
The layout is the one a finished sweep leaves (config.json, metrics.jsonl, predictions.parquet, done,
runs.json, summary.csv, config.yaml, sweep.json), plus confusion_test.csv, which a real run has only
when the MLflow mirror finished it (the analysis falls back to predictions.parquet without it).
config.json carries ``train_class_counts`` as ``Trainer._run`` records it (read by
``analysis.train_counts``).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import yaml

from hdfbench.data.dfew import DFEW_CLASSES, DFEW_COUNTS
from hdfbench.metrics import confusion, per_class_recall, worst_group_metrics

CLASSES = DFEW_CLASSES
#: DFEW's class prior.
PRIOR = DFEW_COUNTS / DFEW_COUNTS.sum()


@dataclass
class FakeSpec:
    """What to generate: datasets × folds × seeds × variants, and each variant's accuracy effect."""

    experiment: str = "fake"
    datasets: tuple[str, ...] = ("fakeset",)
    folds: tuple[int, ...] = (1, 2, 3, 4, 5)
    seeds: tuple[int, ...] = (0, 1, 2)
    #: variant → (strategy, accuracy effect added to every clip's probability of being correct[, class → extra
    #: effect on the clips of that class])
    variants: dict[str, tuple] = field(
        default_factory=lambda: {"erm": ("erm", 0.0), "better": ("better", 0.15), "same": ("same", 0.0)}
    )
    n_test: int = 500
    n_train: int = 2000
    base_accuracy: float = 0.55
    cell_sd: float = 0.04
    fold_sd: float = 0.0
    epochs: int = 3
    missing: tuple[str, ...] = ()  # run ids listed in runs.json but left unfinished
    seed: int = 0
    #: variant → extra fields of its strategy entry in config.yaml (balance, balance_groups, hparams)
    strategy_fields: dict[str, dict] = field(default_factory=dict)
    #: when set, runs are of a shifted protocol ("decorrelated_test") and are also evaluated on in-distribution
    #: clips (split test_id, id_* columns) where every clip's probability of being correct is this much higher
    id_effect: float | None = None


def _run_id(dataset: str, fold: int, seed: int, variant: str) -> str:
    return f"{dataset}-f{fold}-s{seed}-{variant}-00000000"


def _predictions(rng: np.random.Generator, labels: np.ndarray, accuracy) -> np.ndarray:
    correct = rng.random(len(labels)) < np.clip(accuracy, 0, 1)
    wrong = (labels + rng.integers(1, len(CLASSES), len(labels))) % len(CLASSES)
    return np.where(correct, labels, wrong)


def _group_columns(test: pd.DataFrame, prefix: str = "") -> dict:
    return {f"{prefix}{k}": v for k, v in worst_group_metrics(test, CLASSES, ("source", "subject")).items()}


def _test_frame(meta: dict, labels: np.ndarray, pred: np.ndarray) -> pd.DataFrame:
    test = pd.DataFrame(meta).assign(pred=pred, correct=pred == labels)
    for c in range(len(CLASSES)):
        test[f"logit_{c}"] = (pred == c).astype(np.float32)
    return test


def _summary_row(
    spec: FakeSpec,
    dataset: str,
    fold: int,
    seed: int,
    variant: str,
    strategy: str,
    test: pd.DataFrame,
    test_id: pd.DataFrame | None,
) -> dict:
    k = len(CLASSES)
    recalls = per_class_recall(test["label"], test["pred"], k)
    row = {
        "experiment": spec.experiment,
        "dataset": dataset,
        "fold": fold,
        "seed": seed,
        "strategy": strategy,
        "variant": variant,
        "selected_epoch": spec.epochs - 1,
        "val_uar": float(np.nanmean(recalls)),
        "val_war": float((test["label"] == test["pred"]).mean()),
        "test_war": float((test["label"] == test["pred"]).mean()),
        "test_uar": float(np.nanmean(recalls)),
        "worst_class_recall": float(np.nanmin(recalls)),
    }
    row.update({f"recall_{c}": r for c, r in zip(CLASSES, recalls)})
    row.update(_group_columns(test), protocol="" if test_id is None else "decorrelated_test")
    if test_id is not None:
        row.update(
            id_test_uar=float(np.nanmean(per_class_recall(test_id["label"], test_id["pred"], k))),
            id_test_war=float((test_id["label"] == test_id["pred"]).mean()),
            **_group_columns(test_id, "id_"),
        )
    row.update(n_test=len(test), absent_classes="", run_id=_run_id(dataset, fold, seed, variant))
    return row


def _write_run(
    path: Path,
    spec: FakeSpec,
    dataset: str,
    fold: int,
    seed: int,
    variant: str,
    strategy: str,
    test: pd.DataFrame,
    test_id: pd.DataFrame | None,
    train_counts: np.ndarray,
    rng: np.random.Generator,
    finished: bool,
) -> None:
    path.mkdir(parents=True, exist_ok=True)
    config = {
        "classes": list(CLASSES),
        "group_fields": ["source", "subject"],
        "n_train": spec.n_train,
        "n_val": spec.n_train // 10,
        "n_test": spec.n_test,
        "run_id": path.name,
        "train_class_counts": train_counts.tolist(),
        "spec": {
            "experiment": spec.experiment,
            "dataset": {"name": dataset, "options": {}},
            "fold": fold,
            "seed": seed,
            "strategy": {"name": strategy, "variant": variant, "hparams": {}},
            "training": {"val_fraction": 0.1, "epochs": spec.epochs},
        },
    }
    (path / "config.json").write_text(json.dumps(config))
    curve = np.sort(rng.uniform(0.2, test["correct"].mean(), spec.epochs))
    lines = []
    for epoch, uar in enumerate(curve):
        record = {"epoch": epoch, "lr": 1e-3, "train_loss": 2.0 - epoch * 0.3, "val_uar": float(uar)}
        if strategy == "groupdro":
            q = rng.dirichlet(np.ones(len(CLASSES)))
            record.update({f"q/{c}": float(v) for c, v in zip(CLASSES, q)})
        lines.append(json.dumps(record))
    (path / "metrics.jsonl").write_text("\n".join(lines) + "\n")
    if not finished:
        return
    frame = test.drop(columns="correct").assign(split="test")
    if test_id is not None:
        frame = pd.concat([frame, test_id.drop(columns="correct").assign(split="test_id")], ignore_index=True)
    frame.to_parquet(path / "predictions.parquet", index=False)
    matrix = confusion(test["label"].to_numpy(), test["pred"].to_numpy(), len(CLASSES))
    pd.DataFrame(matrix, index=pd.Index(CLASSES, name="true"), columns=CLASSES).to_csv(path / "confusion_test.csv")
    (path / "done").write_text(json.dumps({"selected_epoch": spec.epochs - 1}))


def make_results(root: str | Path, spec: FakeSpec | None = None, write_runs: bool = True) -> Path:
    """Write a results directory for ``spec`` under ``root``; return the experiment folder.

    ``write_runs=False`` writes only run configs, done markers and summary.csv (no predictions).
    """
    spec = spec or FakeSpec()
    rng = np.random.default_rng(spec.seed)
    experiment = Path(root) / spec.experiment
    rows, run_ids = [], []
    for dataset in spec.datasets:
        for fold in spec.folds:
            labels = rng.choice(len(CLASSES), size=spec.n_test, p=PRIOR)
            train_counts = np.round(PRIOR * spec.n_train).astype(int)
            meta = {
                "clip_id": [f"c{i:05d}" for i in range(spec.n_test)],
                "label": labels,
                "source": rng.choice(["studio", "phone", "webcam", "film"], spec.n_test),
                "subject": [f"s{i:02d}" for i in rng.integers(0, 20, spec.n_test)],
            }
            fold_effect = {v: rng.normal(0, spec.fold_sd) if spec.fold_sd else 0.0 for v in spec.variants}
            for seed in spec.seeds:
                difficulty = rng.normal(0, spec.cell_sd)
                for variant, (strategy, effect, *by_class) in spec.variants.items():
                    run_id = _run_id(dataset, fold, seed, variant)
                    run_ids.append(run_id)
                    class_effect = np.array([(by_class[0] if by_class else {}).get(c, 0.0) for c in CLASSES])
                    accuracy = spec.base_accuracy + difficulty + fold_effect[variant] + effect + class_effect[labels]
                    pred = _predictions(rng, labels, accuracy)
                    test = _test_frame(meta, labels, pred)
                    test_id = None
                    if spec.id_effect is not None:
                        test_id = _test_frame(meta, labels, _predictions(rng, labels, accuracy + spec.id_effect))
                    finished = run_id not in spec.missing
                    if write_runs or finished:
                        _write_run(
                            experiment / "runs" / run_id,
                            spec,
                            dataset,
                            fold,
                            seed,
                            variant,
                            strategy,
                            test,
                            test_id,
                            train_counts,
                            rng,
                            finished and write_runs,
                        )
                    if not write_runs and finished:
                        (experiment / "runs" / run_id / "done").write_text(json.dumps({"selected_epoch": 0}))
                    if finished:
                        rows.append(_summary_row(spec, dataset, fold, seed, variant, strategy, test, test_id))
    (experiment / "runs.json").write_text(json.dumps(run_ids))
    strategies = [{"name": s, "variant": v, **spec.strategy_fields.get(v, {})} for v, (s, *_) in spec.variants.items()]
    (experiment / "config.yaml").write_text(
        yaml.safe_dump(
            {
                "experiment": spec.experiment,
                "datasets": [{"name": d} for d in spec.datasets],
                "folds": list(spec.folds),
                "seeds": list(spec.seeds),
                "strategies": strategies,
                "tracking": {"enabled": False},
            },
            sort_keys=False,
        )
    )
    (experiment / "sweep.json").write_text(json.dumps({"commit": "0" * 40, "sweep_id": "fake", "run_ids": run_ids}))
    pd.DataFrame(rows).to_csv(experiment / "summary.csv", index=False)
    return experiment
