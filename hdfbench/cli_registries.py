"""All component registries by the plural name the CLI and config errors use."""

from __future__ import annotations

from hdfbench.registry import Registry


def registries() -> dict[str, Registry]:
    """Return {"strategies", "datasets", "backbones"} → registry, with the built-ins registered."""
    from hdfbench.data import DATASETS
    from hdfbench.models import BACKBONES
    from hdfbench.strategies import STRATEGIES

    return {"strategies": STRATEGIES, "datasets": DATASETS, "backbones": BACKBONES}
