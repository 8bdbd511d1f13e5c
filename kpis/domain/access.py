"""Who may do what: roles, the signed-in principal, and force scoping.

Three roles, each including the one before: a *viewer* reads the flight deck; an
*analyst* also loads data, writes commentary and recommendation progress, and
exports; an *admin* also manages users and the catalogue and reads the audit log.

A user may be *scoped* to one force. Such a user sees that force plus England and
Wales, the regions and the peer groups (aggregates), and nothing force-level about any
other force. Scoping is applied where the numbers come from (``kpis.service``), so
every route that asks the service for data obeys it.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

__all__ = ["ROLES", "AccessDenied", "Action", "Principal", "Role", "demo_principal"]


class Role(StrEnum):
    VIEWER = "viewer"
    ANALYST = "analyst"
    ADMIN = "admin"


ROLES: tuple[str, ...] = tuple(r.value for r in Role)
_RANK = {Role.VIEWER: 0, Role.ANALYST: 1, Role.ADMIN: 2}


class Action(StrEnum):
    VIEW = "view"
    LOAD = "load data"  # upload, load, roll back
    COMMENT = "write commentary"
    TRACK = "record recommendation progress"
    EXPORT = "export"
    MANAGE_USERS = "manage users"
    LOAD_REFERENCE = "load reference data"  # NOM adoption months, population estimates
    READ_AUDIT = "read the audit log"
    EDIT_DEFINITIONS = "edit KPI definitions"  # drafts and publishing; national


# The least role each action needs.
_NEEDS: dict[Action, Role] = {
    Action.VIEW: Role.VIEWER,
    Action.LOAD: Role.ANALYST,
    Action.COMMENT: Role.ANALYST,
    Action.TRACK: Role.ANALYST,
    Action.EXPORT: Role.ANALYST,
    Action.MANAGE_USERS: Role.ADMIN,
    Action.LOAD_REFERENCE: Role.ADMIN,
    Action.READ_AUDIT: Role.ADMIN,
    Action.EDIT_DEFINITIONS: Role.ADMIN,
}


class AccessDenied(PermissionError):
    """The principal may not do this (the message says what and why, for the user)."""


@dataclass(frozen=True)
class Principal:
    """The person (or demonstration visitor) a request acts for."""

    username: str
    role: Role
    force: str | None = None  # the one force this user is limited to; None: all forces
    display_name: str = ""
    demo: bool = False  # the unsecured local demonstration: nobody is signed in

    @property
    def label(self) -> str:
        """How this person is named in commentary, progress notes and the audit log."""
        return self.display_name or self.username

    def may(self, action: Action) -> bool:
        return _RANK[self.role] >= _RANK[_NEEDS[action]]

    def require(self, action: Action) -> None:
        if not self.may(action):
            needed = _NEEDS[action].value
            raise AccessDenied(f"You need the {needed} role to {action.value}; "
                               f"you are signed in as a {self.role.value}.")


def demo_principal() -> Principal:
    """Whoever uses the unsecured local demonstration (no users are configured)."""
    return Principal(username="demo", role=Role.ADMIN, display_name="Demonstration user",
                     demo=True)
