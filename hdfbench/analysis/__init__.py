"""Analysis of finished sweeps: tables, statistics, plots and reports."""
