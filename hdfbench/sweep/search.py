"""What a hyperparameter search is, apart from running it (``search_stage.py`` runs the Optuna study as Tune
trials): the search space's sampling, the base run spec, the fingerprint, and the result files.

For each (dataset, strategy) with a ``search`` block, ``n_trials`` runs train on one (fold, seed)
cell with sampled hyperparameters and are scored on the inner validation split (the selection
rule's metric of the selected epoch); the test fold plays no part. The best hyperparameters are
saved in ``results/<experiment>/hpo/<dataset>-<variant>/best.json`` with every trial in
``trials.csv``, and the final folds × seeds grid trains with them. One search per dataset and
strategy, shared by all folds (as in SubpopBench); re-running skips a search whose ``best.json``
matches the current settings.
"""

from __future__ import annotations

import hashlib
import json
import math
from pathlib import Path
from typing import Any, Callable

import pandas as pd

from hdfbench.config import ExperimentConfig, ParamSpace, SearchSpec, StrategySpec, TrainingSpec
from hdfbench.fileio import atomic_write, atomic_write_json
from hdfbench.strategies import STRATEGIES
from hdfbench.training.spec import RunSpec


class SearchFailed(RuntimeError):
    """No trial of a search finished; the message names the search and where its trials are."""


def search_dir(experiment_dir: Path, dataset: str, strategy: StrategySpec) -> Path:
    """Return the folder of the search of ``strategy`` on ``dataset``."""
    return Path(experiment_dir) / "hpo" / f"{dataset}-{strategy.label}"


def apply_params(spec: RunSpec, params: dict[str, Any]) -> RunSpec:
    """Return ``spec`` with searched ``params`` applied (dotted names into training, others into hparams)."""
    hparams = dict(spec.strategy.hparams)
    training = spec.training.model_dump()
    for name, value in params.items():
        if name.startswith("training."):
            node = training
            *parents, leaf = name.split(".")[1:]
            for part in parents:
                node = node[part]
            node[leaf] = value
        else:
            hparams[name] = value
    hparams = STRATEGIES.get(spec.strategy.name).Hparams(**hparams).model_dump()
    return spec.model_copy(
        update={
            "strategy": spec.strategy.model_copy(update={"hparams": hparams}),
            "training": TrainingSpec(**training),
        }
    )


def _suggest(trial, name: str, space: ParamSpace) -> Any:
    if space.type == "choice":
        return trial.suggest_categorical(name, space.choices)
    assert space.low is not None and space.high is not None, "ParamSpace requires a range's bounds"
    if space.type == "int":
        return trial.suggest_int(name, int(space.low), int(space.high), log=space.log)
    return trial.suggest_float(name, space.low, space.high, log=space.log)


class YamlSpace:
    """A picklable define-by-run function over a search space written in the YAML."""

    def __init__(self, space: dict[str, ParamSpace]):
        self.space = space

    def __call__(self, trial) -> dict[str, Any]:
        return {name: _suggest(trial, name, p) for name, p in self.space.items()}


def define_by_run(search: SearchSpec, strategy: StrategySpec) -> Callable:
    """Return the Optuna define-by-run function: the YAML ``space`` or the strategy's own."""
    if search.space is None:
        return STRATEGIES.get(strategy.name).search_space
    return YamlSpace(search.space)


def fingerprint(base: RunSpec, search: SearchSpec) -> str:
    """Return a hash of what determines a search's outcome (its base run and settings)."""
    payload = {"base": base.identity(), "search": search.model_dump(mode="json")}
    return hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()[:12]


def base_spec(config: ExperimentConfig, specs: list[RunSpec], strategy: StrategySpec, dataset: str) -> RunSpec:
    """Return the grid's run spec of ``strategy`` on ``dataset`` at the search's (fold, seed)."""
    assert strategy.search is not None, "only a strategy with a search block is searched"
    fold = strategy.search.fold or config.folds[0]
    seed = strategy.search.seed if strategy.search.seed is not None else config.seeds[0]
    matches = [s for s in specs if s.dataset.name == dataset and s.strategy.label == strategy.label]
    return matches[0].model_copy(update={"fold": fold, "seed": seed})


def read_best(directory: Path, key: str) -> dict[str, Any] | None:
    """Return the saved best params of a finished search with fingerprint ``key`` (else None)."""
    path = directory / "best.json"
    if not path.exists():
        return None
    best = json.loads(path.read_text())
    return best["params"] if best.get("fingerprint") == key else None


def record_results(directory: Path, key: str, rows: list[dict], n_trials: int) -> dict[str, Any]:
    """Write trials.csv and best.json from the trial rows; return the best params."""
    table = pd.DataFrame(
        [
            {
                "run_id": r["run_id"],
                "objective": r["objective"],
                "error": r["error"],
                **{f"param.{k}": v for k, v in r["params"].items()},
            }
            for r in rows
        ]
    )
    atomic_write(directory / "trials.csv", lambda tmp: table.to_csv(tmp, index=False))
    finished = [r for r in rows if r["objective"] is not None and math.isfinite(r["objective"])]
    if not finished:
        raise SearchFailed(f"no trial of the search in {directory} finished; see its runs/ folder")
    best = max(finished, key=lambda r: r["objective"])
    atomic_write_json(
        directory / "best.json",
        {
            "fingerprint": key,
            "params": best["params"],
            "objective": best["objective"],
            "run_id": best["run_id"],
            "n_trials": n_trials,
            "n_finished": len(finished),
        },
    )
    return best["params"]
