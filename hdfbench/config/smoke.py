"""Shrinking a config to a seconds-long smoke run (``hdfbench run --smoke``), and listing what changed."""

from __future__ import annotations

from typing import Any

from hdfbench.config.experiment import (
    DatasetSpec,
    ExperimentConfig,
    ModelSpec,
    ResourcesSpec,
)
from hdfbench.config.loading import Loc, format_loc

#: The network of a smoke run that has no pretrained weights.
SMOKE_MODEL = ModelSpec(backbone="x3d_tiny", options={"head_dim_out": 64})


def smoke(config: ExperimentConfig) -> ExperimentConfig:
    """Return ``config`` shrunk to a seconds-long CPU run: tiny data and model, 2 epochs of 2 steps. A model
    with pretrained weights keeps its backbone and options (the file only fits that backbone, and the tiny
    clips keep even X3D-S fast), so a smoke run also checks the weights."""
    from hdfbench.data import DATASETS

    datasets = [
        DatasetSpec(name=d.name, options=DATASETS.get(d.name).smoke_options(dict(d.options))) for d in config.datasets
    ]
    training = config.training.model_copy(
        update={
            "epochs": 2,
            "batch_size": 8,
            "eval_batch_size": 32,
            "max_steps_per_epoch": 2,
            "device": "cpu",
            "num_workers": 0,
        }
    )
    strategies = [
        s.model_copy(update={"search": s.search.model_copy(update={"n_trials": min(2, s.search.n_trials)})})
        if s.search
        else s
        for s in config.strategies
    ]
    return config.model_copy(
        update={
            "datasets": datasets,
            "folds": config.folds[:1],
            "seeds": config.seeds[:1],
            "strategies": strategies,
            "model": config.model if config.model.options.get("pretrained") else SMOKE_MODEL,
            "training": training,
            "resources": ResourcesSpec(cpu=1, gpu=0),
        }
    )


def changed_settings(before: ExperimentConfig, after: ExperimentConfig) -> list[str]:
    """Return ``key.path: old → new`` for every setting that differs between two configs."""
    out: list[str] = []

    def walk(a: Any, b: Any, loc: Loc) -> None:
        if isinstance(a, dict) and isinstance(b, dict):
            for key in dict.fromkeys([*a, *b]):
                walk(a.get(key), b.get(key), loc + (key,))
        elif isinstance(a, list) and isinstance(b, list) and len(a) == len(b):
            for i, (x, y) in enumerate(zip(a, b)):
                walk(x, y, loc + (i,))
        elif a != b:
            out.append(f"{format_loc(loc)}: {a} → {b}")

    walk(before.model_dump(mode="json"), after.model_dump(mode="json"), ())
    return out
