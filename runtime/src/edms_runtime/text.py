"""Text the services accept: nothing with the NUL character, which PostgreSQL cannot store.

PostgreSQL documentation, "Character Types": "the character with code zero (sometimes called NUL) cannot be
stored" (and `jsonb` refuses `\\u0000` for the same reason). Text with it used to be registered, a number taken, and
then refused by every read model downstream. So it is refused at the edge, with 422 naming the field, before
anything is written: in request bodies by `RequestBody`, in path and query parameters by the HTTP shell.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TypeVar

from pydantic import BaseModel, ConfigDict, field_validator
from pydantic_core import PydanticCustomError

from edms_runtime.errors import InvalidField

NUL = "\x00"
NUL_REASON = "must not contain the NUL character"

T = TypeVar("T")


def has_nul(value: object) -> bool:
    """Whether a string anywhere in `value` (nested lists, dicts and models too) holds NUL."""
    if isinstance(value, str):
        return NUL in value
    if isinstance(value, BaseModel):
        value = dict(value)
    if isinstance(value, Mapping):
        return any(has_nul(k) or has_nul(v) for k, v in value.items())
    if isinstance(value, list | tuple | set | frozenset):
        return any(has_nul(v) for v in value)
    return False


def refuse_nul(value: str | None, *, field: str, what: str = "") -> None:
    """For text that does not come through a model (e.g. a multipart file name): 422 naming `field`."""
    if value is not None and NUL in value:
        raise InvalidField(f"{what} {NUL_REASON}".strip(), field=field)


class RequestBody(BaseModel):
    """Base of every JSON request body: unknown fields are refused, and so is NUL in any string field."""

    model_config = ConfigDict(extra="forbid")

    @field_validator("*")
    @classmethod
    def _no_nul(cls, value: T) -> T:
        if has_nul(value):
            raise PydanticCustomError("nul_character", NUL_REASON)
        return value
