"""Expand an experiment config into run specs: datasets × folds × seeds × strategies."""

from __future__ import annotations

import itertools

from hdfbench.config import ExperimentConfig
from hdfbench.strategies import STRATEGIES
from hdfbench.training.spec import RunSpec


def cache_dir(config: ExperimentConfig) -> str:
    """Return the data cache every run of ``config`` uses: ``cache_dir``, else the driver's default.

    Resolved in the driver: trials run in their own directories and on other nodes, where
    ``$HDFBENCH_CACHE`` may not point to the same place.
    """
    from hdfbench.data.base import default_cache_dir

    return config.cache_dir or str(default_cache_dir())


def expand(config: ExperimentConfig) -> list[RunSpec]:
    """Return one ``RunSpec`` per (dataset, fold, seed, strategy) cell, with defaults resolved."""
    from hdfbench.data import DATASETS
    from hdfbench.models import BACKBONES

    backbone = BACKBONES.get(config.model.backbone)
    model = config.model.model_copy(update={"options": backbone.Options(**config.model.options).model_dump()})
    specs = []
    for dataset, fold, seed, strategy in itertools.product(
        config.datasets, config.folds, config.seeds, config.strategies
    ):
        options = DATASETS.get(dataset.name).Options(**dataset.options).model_dump()
        hparams = STRATEGIES.get(strategy.name).Hparams(**strategy.hparams).model_dump()
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
    from hdfbench.strategies import STRATEGIES

    def cost(spec: RunSpec) -> float:
        cls = STRATEGIES.get(spec.strategy.name)
        return cls.relative_cost(cls.Hparams(**spec.strategy.hparams))

    return sorted(specs, key=cost, reverse=True)
