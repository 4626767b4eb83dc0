"""Errors of the sweep layer that the command line reports as bad input (exit 2), importable without Ray."""


class ClusterError(RuntimeError):
    """The Ray cluster cannot run the sweep as configured; the message names the node and the problem."""


class TrackingError(RuntimeError):
    """The MLflow tracking store cannot be used; the message names the store and what is wrong."""
