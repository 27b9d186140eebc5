"""Litestar dependencies shared by every route: the database connection, the caller, the domain services."""

from __future__ import annotations

import sqlite3
from collections.abc import Generator

from litestar import Request
from litestar.datastructures import State
from litestar.di import Provide

from server import acceptance
from server.assessments import Assessments
from server.auth import Principal, TokenService
from server.db import connect
from server.logs import note_user
from server.problems import Unauthenticated


def provide_conn(state: State) -> Generator[sqlite3.Connection, None, None]:
    conn = connect(state.settings.db_path)
    try:
        yield conn
    finally:
        conn.close()


def provide_tokens(state: State) -> TokenService:
    return state.tokens


def provide_principal(request: Request, state: State) -> Principal:
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token:
        raise Unauthenticated("需要登录：请在 Authorization 头中提供 Bearer 访问令牌 / bearer access token required")
    principal = state.tokens.principal(token.strip())
    note_user(principal.username)
    return principal


def provide_assessments(conn: sqlite3.Connection, state: State) -> Assessments:
    settings = state.settings

    def certify(c: sqlite3.Connection, who: Principal, assessment_id: str) -> object:
        return acceptance.issue(c, state.catalog, state.cert_key, assessment_id, who.user_id, settings.today(),
                                settings.base_url, settings.cert_validity_years, blobs=state.blobs)

    return Assessments(conn, state.catalog, settings.today(), on_accept=certify, clock=state.clock)


DEPENDENCIES = {
    "conn": Provide(provide_conn),
    "tokens": Provide(provide_tokens, sync_to_thread=False),
    "principal": Provide(provide_principal, sync_to_thread=False),
    "assessments": Provide(provide_assessments, sync_to_thread=False),
}
