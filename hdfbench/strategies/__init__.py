"""Training strategies: the public plug-in API and the built-in strategies.

To add one, subclass ``Strategy`` in one file and decorate it with ``@register("name")``.
"""

from hdfbench.strategies.base import STRATEGIES, Batch, NonFiniteLossError, Strategy, TaskInfo, register
from hdfbench.strategies import erm  # noqa: F401,E402  (registers the built-ins)

__all__ = ["STRATEGIES", "Batch", "NonFiniteLossError", "Strategy", "TaskInfo", "register"]
