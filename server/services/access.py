"""Roles and scope: who may do what, where. One function every service method calls first.

A user acts within the org subtree of their own unit (province → city → county → township →
village). What they may do there depends on their role:

| role     | who                                   | may                                    |
|----------|---------------------------------------|----------------------------------------|
| field    | 乡镇/街道 应急办 staff                 | read; write (answers, records, submit) |
| village  | 村/社区 两委 staff                     | read; write                            |
| reviewer | 区/县 应急管理局                       | read; review (comment, return, accept) |
| viewer   | 市/省 应急管理厅                       | read                                   |
| admin    | standards owner / user administrator  | read; admin (users in the subtree)     |

An account sits at a unit of the level its role belongs to (ROLE_LEVELS), so that a reviewer is
always a county bureau above the streets it accepts, never a street reviewing itself.
"""

from __future__ import annotations

from typing import Literal, Protocol

import msgspec

from server.errors import Forbidden, InvalidInput

Action = Literal["read", "write", "review", "admin"]


class Principal(msgspec.Struct, frozen=True, kw_only=True):
    """Who is calling: the user, their role and the org subtree they act in; and, for a caller
    authenticated by a token, the account's token generation and the login (session) it belongs
    to, which every request checks against the account as it stands (services/auth.py
    `Sessions.current`)."""

    user_id: int
    username: str
    role: str
    org_id: str
    org_path: str
    generation: int = 0
    session: str | None = None


class Unit(Protocol):
    """What the level rules read of a unit (server.store.orgs.OrgRef has it)."""

    @property
    def name(self) -> str:
        """The unit's name."""
        ...

    @property
    def level(self) -> str:
        """The unit's level."""
        ...


ROLES = ("field", "village", "reviewer", "viewer", "admin")
PERMISSIONS: dict[str, frozenset[str]] = {
    "field": frozenset({"read", "write"}),
    "village": frozenset({"read", "write"}),
    "reviewer": frozenset({"read", "review"}),
    "viewer": frozenset({"read"}),
    "admin": frozenset({"read", "admin"}),
}
ACTION_NAMES = {"read": "查看", "write": "填报", "review": "审核", "admin": "管理"}
ROLE_LEVELS: dict[str, tuple[str, ...]] = {
    "field": ("township",),
    "village": ("village",),
    "reviewer": ("county",),  # the 区/县应急管理局 verifies and issues (DOMAIN.md §3.1)
    "viewer": ("province", "city", "county"),
    "admin": ("province", "city", "county"),
}
LEVEL_NAMES = {"province": "省", "city": "市州", "county": "县市区", "township": "乡镇（街道）", "village": "村（社区）"}


def require_level(org: Unit, levels: tuple[str, ...], zh: str, en: str) -> None:
    """InvalidInput (field org_id) unless `org` is of one of `levels`.
    `zh` and `en` say what needs the level, with `{allowed}` where the allowed levels go."""
    if org.level not in levels:
        allowed = "、".join(LEVEL_NAMES[level] for level in levels)
        raise InvalidInput(
            f"{zh.format(allowed=allowed)}，{org.name}是{LEVEL_NAMES.get(org.level, org.level)} / "
            f"{en.format(allowed=' or '.join(levels))}, not a {org.level}", field="org_id")


def check_role_level(role: str, org: Unit) -> None:
    """InvalidInput unless an account of `role` may sit at `org`."""
    require_level(org, ROLE_LEVELS.get(role, ()), f"{role} 账号须设在{{allowed}}一级",
                  f"a {role} account belongs to a {{allowed}} unit")


def in_scope(principal: Principal, path: str) -> bool:
    """Whether `path` lies in the principal's subtree."""
    return path.startswith(principal.org_path)


def require(principal: Principal, action: Action, path: str) -> None:
    """Raise Forbidden unless the principal's role allows `action` and `path` is in their subtree.

    Units outside the subtree are reported as forbidden, not hidden, so a misconfigured account
    is diagnosable; their content is never returned.
    """
    if action not in PERMISSIONS.get(principal.role, frozenset()):
        raise Forbidden(
            f"角色 {principal.role} 不能{ACTION_NAMES[action]} / role {principal.role} may not {action}"
        )
    if not in_scope(principal, path):
        raise Forbidden(f"该单位不在您的管辖范围内 / unit outside your scope ({principal.org_path})")
