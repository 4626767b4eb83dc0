"""hdfbench: a benchmark harness for distributionally robust training in dynamic facial
expression recognition (DFER).

Importing the package changes nothing process-wide (environment, warning filters, logging): the
entry points, the ``hdfbench`` command and the Ray trial, apply ``hdfbench._quiet`` themselves.
"""

from importlib.metadata import PackageNotFoundError, version


def _version() -> str:
    """Return the installed distribution's version, else the version in the source tree's pyproject.toml."""
    try:
        return version("hdfbench")
    except PackageNotFoundError:  # a source tree on sys.path, or Ray's shipped copy of the package
        import tomllib
        from pathlib import Path

        try:
            pyproject = (Path(__file__).resolve().parents[1] / "pyproject.toml").read_text(encoding="utf-8")
            return str(tomllib.loads(pyproject)["project"]["version"])
        except (OSError, ValueError, KeyError):
            return "0+unknown"


__version__ = _version()
