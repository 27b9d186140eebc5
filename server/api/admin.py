"""User administration within the admin's subtree."""

from __future__ import annotations

from typing import Annotated

import msgspec
from litestar import Controller, get, patch, post
from litestar.params import Parameter
from msgspec import UNSET, Meta, UnsetType

from server.api.openapi import guarded
from server.services.access import Principal
from server.services.users import Role, User, UserChanges, Users

Username = Annotated[str, Meta(pattern=r"^[A-Za-z0-9_.-]{3,64}$")]
Password = Annotated[str, Meta(min_length=8, max_length=256)]
DisplayName = Annotated[str, Meta(min_length=1, max_length=64)]
OrgId = Annotated[str, Meta(min_length=1, max_length=128)]


class NewUser(msgspec.Struct, frozen=True, forbid_unknown_fields=True, kw_only=True):
    username: Username
    display_name: DisplayName
    password: Password
    role: Role
    org_id: OrgId


class UserPatch(msgspec.Struct, frozen=True, forbid_unknown_fields=True, kw_only=True):
    display_name: DisplayName | UnsetType = UNSET
    password: Password | UnsetType = UNSET
    role: Role | UnsetType = UNSET
    org_id: OrgId | UnsetType = UNSET
    active: bool | UnsetType = UNSET


class AdminController(Controller):
    path = "/admin/users"
    tags = ["admin"]

    @get("/", sync_to_thread=True, operation_id="listUsers", responses=guarded())
    def list_users(self, users: Users, principal: Principal) -> list[User]:
        return users.list(principal)

    @post("/", sync_to_thread=True, operation_id="createUser", responses=guarded(409))
    def create_user(self, data: NewUser, users: Users, principal: Principal) -> User:
        return users.create(principal, data.username, data.display_name, data.password, data.role, data.org_id)

    @patch("/{user_id:int}", sync_to_thread=True, operation_id="updateUser", responses=guarded())
    def update_user(self, user_id: Annotated[int, Parameter(ge=1, le=2**62)], data: UserPatch, users: Users,
                    principal: Principal) -> User:
        return users.update(principal, user_id, UserChanges(**msgspec.structs.asdict(data)))
