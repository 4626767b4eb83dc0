"""Sweeps: expanding a config into runs, running them on Ray Tune, tracking and summarising.

``driver`` runs a sweep end to end: ``cluster`` (the preflight of every Ray node, data prepared on
each), ``search_stage`` (Optuna), ``tuner`` (Ray start-up, code shipping, the Tune run), ``trial``
(one run per trial: placement, device, failure policy), ``tracking`` (the MLflow mirror),
``results`` (run directories → summary.csv) and ``provenance`` (commit, source digest, versions).
"""
