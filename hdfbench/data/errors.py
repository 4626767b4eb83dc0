"""The error of unusable data; its message names the file (and line) or option at fault."""


class DataError(RuntimeError):
    """Data that cannot be used as configured; the message names the file or option at fault."""


class MediaError(DataError):
    """A clip that cannot be read; the message names the file and the reason."""
