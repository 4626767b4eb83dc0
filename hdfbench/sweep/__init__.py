"""Sweeps: expanding a config into runs, running them on Ray Tune, tracking and summarising."""
