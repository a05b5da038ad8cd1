"""The directory's domain: organizations, units, positions, people, delegations. Pure: no I/O.

DOMAIN.md, task 7: "Keep a single registry of organizations and contact persons". Every change is an event with who
made it (`by`), so the history of an entry is its aggregate's events; the registry publishes them on
`edms.registry.directory.v1` (contracts in `edms_contracts.directory`), where routing, control, search and access
learn people, units and delegations.

Identity: a unit, a position and a person are known by their code or login within their organization, so their ids
derive from it (`create_id`): registering the same login twice meets the first one. An organization's id is its
own (an external correspondent may have neither code nor INN); duplicates are found by INN and OGRN.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from datetime import date
from typing import Any

from eventsourcing.domain import Aggregate, event

from edms_contracts.directory import OrgKind

NAMESPACE = uuid.UUID("5d0c8e0a-8f0e-4b53-9a51-7c1b7f6f2d31")

#: INN weights — Order of the Federal Tax Service of Russia No. ММВ-7-6/435@ of 29.06.2012 (the structure of the
#: taxpayer number): 10 digits for an organization (one check digit), 12 for an individual (two).
_INN10 = (2, 4, 10, 3, 5, 9, 4, 6, 8)
_INN12_1 = (7, 2, 4, 10, 3, 5, 9, 4, 6, 8)
_INN12_2 = (3, 7, 2, 4, 10, 3, 5, 9, 4, 6, 8)


class InvalidEntry(ValueError):
    """A directory entry breaks a rule: `field` names what, the message says why."""

    def __init__(self, field: str, reason: str) -> None:
        super().__init__(reason)
        self.field = field
        self.reason = reason


def _check_digit(digits: str, weights: tuple[int, ...]) -> int:
    return sum(int(d) * w for d, w in zip(digits, weights, strict=False)) % 11 % 10


def check_inn(inn: str) -> str:
    """The INN if its length and check digits are right (Order of the FTS No. ММВ-7-6/435@), else InvalidEntry."""
    if not inn.isdigit() or len(inn) not in (10, 12):
        raise InvalidEntry("inn", "an INN has 10 digits (an organization) or 12 (an individual)")
    if len(inn) == 10:
        good = _check_digit(inn, _INN10) == int(inn[9])
    else:
        good = _check_digit(inn, _INN12_1) == int(inn[10]) and _check_digit(inn, _INN12_2) == int(inn[11])
    if not good:
        raise InvalidEntry("inn", f"INN {inn}: the check digit is wrong")
    return inn


def check_ogrn(ogrn: str) -> str:
    """The OGRN if its check digit is right, else InvalidEntry.

    Rules of keeping the Unified State Register of Legal Entities (Decree of the Government of the RF No. 438 of
    19.06.2002): 13 digits, the last is the remainder of the first 12 divided by 11 (its last digit); an individual
    entrepreneur's OGRNIP has 15 digits, the last the remainder of the first 14 divided by 13 (its last digit).
    """
    if not ogrn.isdigit() or len(ogrn) not in (13, 15):
        raise InvalidEntry("ogrn", "an OGRN has 13 digits (15 for an individual entrepreneur's OGRNIP)")
    modulus = 11 if len(ogrn) == 13 else 13
    if int(ogrn[:-1]) % modulus % 10 != int(ogrn[-1]):
        raise InvalidEntry("ogrn", f"OGRN {ogrn}: the check digit is wrong")
    return ogrn


def normalized_name(name: str) -> str:
    """An organization's name compared for duplicates: case, ё/е, quotes and spacing do not matter."""
    cleaned = name.lower().replace("ё", "е")
    for quote in "\"'«»“”„":
        cleaned = cleaned.replace(quote, " ")
    return " ".join(cleaned.split())


def would_cycle(code: str, new_parent: str | None, parents: Mapping[str, str | None]) -> bool:
    """Whether putting unit `code` under `new_parent` makes the tree a loop (a unit under its own descendant)."""
    seen: set[str] = set()
    current = new_parent
    while current is not None and current not in seen:
        if current == code:
            return True
        seen.add(current)
        current = parents.get(current)
    return False


def _id(*parts: str) -> uuid.UUID:
    return uuid.uuid5(NAMESPACE, "\x1f".join(parts))


class Organization(Aggregate):
    """An organization: a regional body, a municipality, an external correspondent (with its contact persons)."""

    @event("Registered")
    def __init__(
        self,
        org: str,
        by: str,
        name: str,
        kind: str,
        code: str | None = None,
        short_name: str | None = None,
        inn: str | None = None,
        ogrn: str | None = None,
        parent: str | None = None,
        address: str | None = None,
        email: str | None = None,
        phone: str | None = None,
    ) -> None:
        OrgKind(kind)
        self.org = org
        self.name = name
        self.kind = kind
        self.code = code
        self.short_name = short_name
        self.inn = inn
        self.ogrn = ogrn
        self.parent = parent
        self.address = address
        self.email = email
        self.phone = phone
        self.active = True
        self.merged_into: uuid.UUID | None = None
        self.contacts: list[dict[str, Any]] = []

    @event("Changed")
    def change(self, org: str, by: str, changes: dict[str, Any]) -> None:
        if not self.active:
            raise InvalidEntry("organization", f"organization {self.id} was merged into {self.merged_into}")
        for name, value in changes.items():
            setattr(self, name, value)

    @event("MergedInto")
    def merge_into(self, org: str, by: str, survivor_id: uuid.UUID) -> None:
        """Close this duplicate: references to it now mean the survivor."""
        if survivor_id == self.id:
            raise InvalidEntry("duplicate_id", "an organization is not merged into itself")
        if not self.active:
            raise InvalidEntry("duplicate_id", f"organization {self.id} was merged already into {self.merged_into}")
        self.active = False
        self.merged_into = survivor_id

    @event("ContactAdded")
    def add_contact(
        self,
        org: str,
        by: str,
        contact_id: uuid.UUID,
        name: str,
        position: str | None = None,
        email: str | None = None,
        phone: str | None = None,
    ) -> None:
        self.contacts.append(
            {"contact_id": contact_id, "name": name, "position": position, "email": email, "phone": phone}
        )


class Unit(Aggregate):
    """A unit (структурное подразделение) of an organization; units form a tree by `parent`."""

    @staticmethod
    def create_id(org: str, code: str, **_: object) -> uuid.UUID:
        return _id("unit", org, code)

    @event("Created")
    def __init__(self, org: str, by: str, code: str, name: str, parent: str | None = None) -> None:
        self.org = org
        self.code = code
        self.name = name
        self.parent = parent
        self.active = True

    @event("Changed")
    def change(self, org: str, by: str, code: str, changes: dict[str, Any]) -> None:
        if not self.active:
            raise InvalidEntry("code", f"unit {self.code} is closed")
        for name, value in changes.items():
            setattr(self, name, value)

    @event("Closed")
    def close(self, org: str, by: str, code: str) -> None:
        if not self.active:
            raise InvalidEntry("code", f"unit {self.code} is closed already")
        self.active = False


class Position(Aggregate):
    """A position (должность) in a unit; `head` marks the unit's head, whom escalation and access go up to."""

    @staticmethod
    def create_id(org: str, code: str, **_: object) -> uuid.UUID:
        return _id("position", org, code)

    @event("Defined")
    def __init__(self, org: str, by: str, code: str, title: str, unit: str, head: bool = False) -> None:
        self.org = org
        self.code = code
        self.title = title
        self.unit = unit
        self.head = head


class Person(Aggregate):
    """A person who works in the system: login, unit, position and roles in their organization."""

    @staticmethod
    def create_id(org: str, login: str, **_: object) -> uuid.UUID:
        return _id("person", org, login)

    @event("Registered")
    def __init__(
        self,
        org: str,
        by: str,
        login: str,
        full_name: str,
        unit: str | None = None,
        position: str | None = None,
        roles: list[str] | None = None,
        email: str | None = None,
        phone: str | None = None,
    ) -> None:
        self.org = org
        self.login = login
        self.full_name = full_name
        self.unit = unit
        self.position = position
        self.roles = list(roles or [])
        self.email = email
        self.phone = phone
        self.active = True

    @event("Changed")
    def change(self, org: str, by: str, login: str, changes: dict[str, Any]) -> None:
        if not self.active:
            raise InvalidEntry("login", f"{self.login} is deactivated")
        for name, value in changes.items():
            setattr(self, name, value)

    @event("Deactivated")
    def deactivate(self, org: str, by: str, login: str, reason: str | None = None) -> None:
        if not self.active:
            raise InvalidEntry("login", f"{self.login} is deactivated already")
        self.active = False


class Delegation(Aggregate):
    """Temporary delegation (e.g. an acting head, врио): `deputy` acts for `principal` with `roles` from `starts`
    to `ends` inclusive, unless revoked earlier."""

    @event("Granted")
    def __init__(
        self,
        org: str,
        by: str,
        principal: str,
        deputy: str,
        roles: list[str],
        starts: date,
        ends: date,
        reason: str | None = None,
    ) -> None:
        if ends < starts:
            raise InvalidEntry("ends", "a delegation ends on or after the day it starts")
        if principal == deputy:
            raise InvalidEntry("deputy", "a person does not deputize for themselves")
        if not roles:
            raise InvalidEntry("roles", "a delegation gives at least one role")
        self.org = org
        self.principal = principal
        self.deputy = deputy
        self.roles = list(roles)
        self.starts = starts
        self.ends = ends
        self.reason = reason
        self.active = True

    @event("Revoked")
    def revoke(self, org: str, by: str) -> None:
        if not self.active:
            raise InvalidEntry("delegation_id", "the delegation is revoked already")
        self.active = False


#: The directory's aggregates (the registry's wiring test checks each event is published or internal).
AGGREGATES: tuple[type[Aggregate], ...] = (Organization, Unit, Position, Person, Delegation)
