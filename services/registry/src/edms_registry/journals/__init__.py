"""Journal plans as data: `default.toml`, and `<org>.toml` for an organization with journals of its own."""

from __future__ import annotations

import tomllib
from functools import cache
from importlib.resources import files

from edms_registry.domain import JournalPlan, plan_from_data


@cache
def file_plan(org: str) -> JournalPlan | None:
    """The plan in this package's `<org>.toml`, if there is one."""
    resource = files(__name__).joinpath(f"{org}.toml")
    if not resource.is_file():
        return None
    return plan_from_data(tomllib.loads(resource.read_text(encoding="utf-8"))["journal"])


@cache
def default_plan() -> JournalPlan:
    plan = file_plan("default")
    assert plan is not None, "default.toml ships with the package"
    return plan
