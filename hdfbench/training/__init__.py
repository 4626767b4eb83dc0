"""Training one run: its spec, its directory on disk, its device, and the epoch loop."""
