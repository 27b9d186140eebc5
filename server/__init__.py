"""The Litestar server: app factory, routes, auth, review workflow and SQLite storage; and the dabiao CLI."""
