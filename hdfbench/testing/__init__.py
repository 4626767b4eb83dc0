"""Test helpers for plugin authors: the strategy contract (``check_strategy``), the backbone contract
(``check_backbone``) and a generator of fake sweep results for analysis code (``testing.fake_results``)."""

from hdfbench.testing.backbone_contract import BackboneContractError, check_backbone
from hdfbench.testing.contract import (
    StrategyContractError,
    check_hparams_and_search_space,
    check_loss_decreases,
    check_no_cuda,
    check_predict,
    check_resume_is_exact,
    check_strategy,
)

__all__ = [
    "BackboneContractError",
    "StrategyContractError",
    "check_backbone",
    "check_hparams_and_search_space",
    "check_loss_decreases",
    "check_no_cuda",
    "check_predict",
    "check_resume_is_exact",
    "check_strategy",
]
