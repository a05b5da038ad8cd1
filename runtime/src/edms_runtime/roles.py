"""Roles as data: which permissions each role has per service (`policy/roles.toml`, or `EDMS_ROLES_FILE`), and
which routes the HTTP shell checks against them before the endpoint runs.

A permission is `<service>:<action>`; a role's `*:<action>` holds in every service. The roles are those of
`edms_contracts.Role` (clerk, head, executor, controller, archivist, search operator, administrator, municipal
node, ...); a file naming a role the vocabulary does not know is refused when loaded.
"""

from __future__ import annotations

import functools
import os
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

from edms_contracts.vocabulary import Role

DEFAULT_FILE = Path(__file__).with_name("policy") / "roles.toml"


@dataclass(frozen=True)
class RoleTable:
    permissions: dict[str, frozenset[str]]
    routes: dict[str, dict[str, str]]
    #: Requests per second per identity, by service (or `*`) and route.
    limits: dict[str, dict[str, float]] = field(default_factory=dict)

    def rate_limit(self, service: str, method: str, template: str) -> float | None:
        key = f"{method} {template}"
        for scope in (service, "*"):
            rate = self.limits.get(scope, {}).get(key)
            if rate is not None:
                return rate
        return None

    def permits(self, roles: frozenset[str] | set[str], permission: str) -> bool:
        """Whether any of `roles` has `permission` (`service:action`), directly or as `*:action`."""
        action = permission.partition(":")[2]
        wanted = {permission, f"*:{action}"}
        return any(wanted & self.permissions.get(role, frozenset()) for role in roles)

    def route_permission(self, service: str, method: str, template: str) -> str | None:
        """The permission a route needs (`service:action`), when the table lists it."""
        key = f"{method} {template}"
        for scope in (service, "*"):
            action = self.routes.get(scope, {}).get(key)
            if action is not None:
                return f"{service}:{action}"
        return None

    def roles_with(self, permission: str) -> list[str]:
        return sorted(role for role in self.permissions if self.permits({role}, permission))


def load(path: Path) -> RoleTable:
    data = tomllib.loads(path.read_text())
    known = {role.value for role in Role}
    unknown = set(data.get("roles", {})) - known
    if unknown:
        raise ValueError(f"{path}: roles {sorted(unknown)} are not in edms_contracts.Role")
    permissions = {role: frozenset(entry.get("permissions", [])) for role, entry in data.get("roles", {}).items()}
    for role, granted in permissions.items():
        malformed = [p for p in granted if p.count(":") != 1]
        if malformed:
            raise ValueError(f"{path}: role {role}: permissions {malformed} are not `service:action`")
    routes = {service: dict(table) for service, table in data.get("routes", {}).items()}
    limits = {
        service: {route: float(rate) for route, rate in table.items()}
        for service, table in data.get("limits", {}).items()
    }
    return RoleTable(permissions, routes, limits)


@functools.cache
def table() -> RoleTable:
    """The role table this process uses (read once)."""
    return load(Path(os.environ.get("EDMS_ROLES_FILE") or DEFAULT_FILE))
