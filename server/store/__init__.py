"""The only SQL of the server: small `fn(conn, ...)` functions per table family, returning Structs
(server/store/db.py turns rows into them), the schema's migrations and the writer's transactions."""
