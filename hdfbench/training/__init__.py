"""Training one run: its spec, its directory on disk, and the epoch loop."""
