"""Training strategies: the public plug-in API and the built-in strategies.

To add one, subclass ``Strategy`` in one file and decorate it with ``@register("name")`` (see
docs/adding_a_loss.md); packages can also register through the entry-point group
``hdfbench.strategies``, and a YAML can name any strategy class as ``package.module:Class``.
"""

from hdfbench.schema import StrictModel as Hparams
from hdfbench.strategies.base import (
    STRATEGIES,
    NonFiniteLossError,
    Stage,
    StageContext,
    Strategy,
    TaskInfo,
    register,
)

# isort: split
# the API above is bound before the built-ins register through it
from hdfbench.strategies import (  # noqa: F401  (registers the built-ins)
    chi2_dro,
    cvar,
    erm,
    focal,
    group_reweight,
    groupdro,
    hdf,
    jtt,
    ldam_drw,
    logit_adjustment,
    sam,
)

__all__ = ["STRATEGIES", "Hparams", "NonFiniteLossError", "Stage", "StageContext", "Strategy", "TaskInfo", "register"]
