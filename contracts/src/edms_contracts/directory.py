"""The directory's events (v1): organizations, units, positions, people, contacts, delegations.

Published by the registry on `edms.registry.directory.v1`, keyed by the entry's aggregate (an organization, a unit,
a person, a delegation), so one entry's changes stay in order. Routing checks executors and controllers against it,
control addresses reminders and finds the heads above a unit, search names people and units, the access rule learns
roles, the unit tree and acting heads from it. `org` is the code of the organization the entry belongs to (the code
tokens carry); an external correspondent has none of its own and belongs to the organization that keeps it.

Every change is an event with who made it; the registry keeps the history (`GET :8101/people/{login}/history`).
"""

from __future__ import annotations

import uuid
from datetime import date
from enum import StrEnum
from typing import Any

from pydantic import Field

from edms_contracts.events import Event
from edms_contracts.topics import REGISTRY_DIRECTORY
from edms_contracts.vocabulary import Role


class OrgKind(StrEnum):
    """What an organization is to the region."""

    REGIONAL_BODY = "regional_body"  # орган исполнительной власти региона, аппарат губернатора и правительства
    MUNICIPALITY = "municipality"  # администрация муниципального образования (joins through its node)
    EXTERNAL = "external"  # внешний корреспондент: федеральный орган, организация, суд


class DirectoryEvent(Event):
    """Base of the directory's events: the topic, the organization the entry belongs to, who changed it."""

    topic = REGISTRY_DIRECTORY
    abstract_event = True

    org: str = Field(description="Code of the organization the entry belongs to")
    by: str = Field(description="Login of whoever made the change (an administrator, or `import` for a CSV)")


class OrganizationRegistered(DirectoryEvent):
    """An organization entered the directory (deduplicated by INN/OGRN, then by name)."""

    organization_id: uuid.UUID
    code: str | None = Field(default=None, description="The organization's own code, when it works in the system")
    name: str
    short_name: str | None = None
    kind: OrgKind
    inn: str | None = Field(default=None, description="ИНН: 10 digits for an organization")
    ogrn: str | None = Field(default=None, description="ОГРН: 13 digits")
    parent: str | None = Field(default=None, description="Code of the organization above it, if any")
    address: str | None = None
    email: str | None = None
    phone: str | None = None


class OrganizationChanged(DirectoryEvent):
    """Some of an organization's fields changed; `changes` holds their new values."""

    organization_id: uuid.UUID
    changes: dict[str, Any]


class OrganizationsMerged(DirectoryEvent):
    """A duplicate organization was merged into another one; references to it now mean the survivor."""

    organization_id: uuid.UUID = Field(description="The duplicate, now closed")
    survivor_id: uuid.UUID


class UnitCreated(DirectoryEvent):
    """A unit (структурное подразделение) of an organization; units form a tree by `parent`."""

    unit_id: uuid.UUID
    code: str = Field(description="The unit's code, unique in its organization (used in numbers and filters)")
    name: str
    parent: str | None = Field(default=None, description="Code of the unit above it; none for the top")


class UnitChanged(DirectoryEvent):
    """A unit was renamed or moved in the tree; `changes` holds the new values (`name`, `parent`)."""

    unit_id: uuid.UUID
    code: str
    changes: dict[str, Any]


class UnitClosed(DirectoryEvent):
    """A unit was closed; its people must be moved first."""

    unit_id: uuid.UUID
    code: str


class PositionDefined(DirectoryEvent):
    """A position (должность) in a unit; `head` marks the unit's head, whom escalation and access go up to."""

    position_id: uuid.UUID
    code: str
    title: str
    unit: str
    head: bool = False


class PersonRegistered(DirectoryEvent):
    """A person who works in the system: login, unit, position, roles in their organization."""

    person_id: uuid.UUID
    login: str
    full_name: str
    unit: str | None = None
    position: str | None = None
    roles: list[Role] = Field(default_factory=list)
    email: str | None = None
    phone: str | None = None


class PersonChanged(DirectoryEvent):
    """A person moved, was renamed or got other roles; `changes` holds the new values of the changed fields."""

    person_id: uuid.UUID
    login: str
    changes: dict[str, Any]


class PersonDeactivated(DirectoryEvent):
    """A person left: their login stays in history but gets no new work."""

    person_id: uuid.UUID
    login: str
    reason: str | None = None


class ContactAdded(DirectoryEvent):
    """A contact person of an organization (an external correspondent's clerk, say)."""

    organization_id: uuid.UUID
    contact_id: uuid.UUID
    name: str
    position: str | None = None
    email: str | None = None
    phone: str | None = None


class DelegationGranted(DirectoryEvent):
    """Temporary delegation: `deputy` acts for `principal` with these roles from `starts` to `ends` (inclusive),
    e.g. an acting head (врио) while the head is on leave."""

    delegation_id: uuid.UUID
    principal: str
    deputy: str
    roles: list[Role]
    starts: date
    ends: date
    reason: str | None = None


class DelegationRevoked(DirectoryEvent):
    """A delegation ended before its end date."""

    delegation_id: uuid.UUID
