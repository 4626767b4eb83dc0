"""The strict pydantic base model that every configuration schema in hdfbench derives from."""

from pathlib import Path
from typing import Annotated

from pydantic import AfterValidator, BaseModel, ConfigDict


class StrictModel(BaseModel):
    """A pydantic model that rejects unknown keys and validates on assignment."""

    model_config = ConfigDict(extra="forbid", validate_assignment=True)


def absolute_path(path: str) -> str:
    """Return ``path`` with ``~`` expanded, made absolute against the current directory."""
    return str(Path(path).expanduser().resolve())


#: A local file or folder given in a config: made absolute when validated, because Ray trials run in
#: their own working directories (a relative path would point elsewhere there).
LocalPath = Annotated[str, AfterValidator(absolute_path)]
