#!/bin/sh
# The image's process. Without LITESTREAM_REPLICA_URL: `dabiao serve`. With it: restore the
# database from the replica when the volume has none (a new or lost volume), then run the server
# under Litestream, which replicates while it runs and passes SIGTERM on (docs/operations.md).
set -e
SERVE="dabiao serve --host 0.0.0.0 --port ${PORT:-8080}"
if [ -z "${LITESTREAM_REPLICA_URL:-}" ]; then
    exec $SERVE
fi
DB="${DABIAO_DATA_DIR:-/data}/dabiao.db"
if [ ! -f "$DB" ]; then
    litestream restore -config /etc/litestream.yml -if-replica-exists "$DB"
    # Phones may hold cursors past the restored change feed: the server starts a new sync epoch.
    [ -f "$DB" ] && date -u +%Y-%m-%dT%H:%M:%SZ > "${DABIAO_DATA_DIR:-/data}/.restored"
fi
exec litestream replicate -config /etc/litestream.yml -exec "$SERVE"
