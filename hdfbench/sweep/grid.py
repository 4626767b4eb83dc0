"""Expand an experiment config into run specs: datasets × folds × seeds × strategies."""

from __future__ import annotations

import itertools

from hdfbench.config import ExperimentConfig
from hdfbench.data import DATASETS
from hdfbench.data.base import default_cache_dir
from hdfbench.models import BACKBONES
from hdfbench.strategies import STRATEGIES
from hdfbench.training.spec import RunSpec


def cache_dir(config: ExperimentConfig) -> str:
    """Return the data cache every run of ``config`` uses: ``cache_dir``, else the driver's default.

    Resolved in the driver: trials run in their own directories and on other nodes, where
    ``$HDFBENCH_CACHE`` may not point to the same place.
    """
    return config.cache_dir or str(default_cache_dir())


def expand(config: ExperimentConfig) -> list[RunSpec]:
    """Return one ``RunSpec`` per (dataset, fold, seed, strategy) cell, with defaults resolved (each entry's
    options and hyperparameters validated once)."""
    backbone = BACKBONES.get(config.model.backbone)
    model = config.model.model_copy(update={"options": backbone.Options(**config.model.options).model_dump()})
    options_of = [DATASETS.get(d.name).Options(**d.options).model_dump() for d in config.datasets]
    hparams_of = [STRATEGIES.get(s.name).Hparams(**s.hparams).model_dump() for s in config.strategies]
    specs = []
    for (dataset, options), fold, seed, (strategy, hparams) in itertools.product(
        zip(config.datasets, options_of), config.folds, config.seeds, zip(config.strategies, hparams_of)
    ):
        specs.append(
            RunSpec(
                experiment=config.experiment,
                dataset=dataset.model_copy(update={"options": options}),
                fold=fold,
                seed=seed,
                strategy=strategy.model_copy(update={"hparams": hparams, "variant": strategy.label, "search": None}),
                model=model,
                training=config.training,
                selection=config.selection,
                evaluation=config.evaluation,
                cache_dir=cache_dir(config),
                threads=max(1, int(config.resources.cpu)),
            )
        )
    return specs


def costliest_first(specs: list[RunSpec]) -> list[RunSpec]:
    """Return ``specs`` ordered by their strategy's ``relative_cost``, highest first (grid order among equals).

    Trials start in this order: when long runs start first, the sweep does not end with one long run
    alone while the other CPUs or GPUs idle.
    """

    def cost(spec: RunSpec) -> float:
        cls = STRATEGIES.get(spec.strategy.name)
        return cls.relative_cost(cls.Hparams(**spec.strategy.hparams))

    return sorted(specs, key=cost, reverse=True)
