"""The strict pydantic base model that every configuration schema in hdfbench derives from."""

from pathlib import Path
from typing import Annotated, Any, ClassVar

from pydantic import AfterValidator, BaseModel, ConfigDict


class StrictModel(BaseModel):
    """A pydantic model that rejects unknown keys and validates on assignment.

    ``LATE_FIELDS`` names fields added after results keyed by the model's content (run ids, data
    caches) were first published; ``identity_payload`` leaves them out while they hold their
    defaults, so those keys stay valid. ``COMPUTE_FIELDS`` name fields that choose how a result is
    computed (a kernel, a fused optimizer), not what: they change rounding only and are never part of
    an identity.
    """

    model_config = ConfigDict(extra="forbid", validate_assignment=True)
    LATE_FIELDS: ClassVar[tuple[str, ...]] = ()
    COMPUTE_FIELDS: ClassVar[tuple[str, ...]] = ()

    @classmethod
    def identity_payload(cls, payload: dict[str, Any]) -> dict[str, Any]:
        """Return the JSON ``payload`` of an instance without its compute fields and without the late fields
        that hold their defaults, in nested models too."""
        defaults = {name: cls.model_fields[name].get_default(call_default_factory=True) for name in cls.LATE_FIELDS}
        dumped = cls.model_construct(**defaults).model_dump(mode="json", include=set(cls.LATE_FIELDS))
        kept = {
            k: v
            for k, v in payload.items()
            if k not in cls.COMPUTE_FIELDS and (k not in cls.LATE_FIELDS or v != dumped[k])
        }
        for name, value in kept.items():
            nested = cls.model_fields[name].annotation if name in cls.model_fields else None
            if isinstance(value, dict) and isinstance(nested, type) and issubclass(nested, StrictModel):
                kept[name] = nested.identity_payload(value)
        return kept


def absolute_path(path: str) -> str:
    """Return ``path`` with ``~`` expanded, made absolute against the current directory."""
    return str(Path(path).expanduser().resolve())


#: A local file or folder given in a config: made absolute when validated, because Ray trials run in
#: their own working directories (a relative path would point elsewhere there).
LocalPath = Annotated[str, AfterValidator(absolute_path)]
