"""The limits of the sync protocol, in one place: the server's routes enforce them, `GET
/sync/config` announces them, and the reference client checks them before it sends (so an
official learns at the site, not after walking away, that a photo is too large)."""

from __future__ import annotations

from msgspec import Struct

MiB = 1024 * 1024


class Limits(Struct, frozen=True, kw_only=True):
    max_batch: int = 500  # mutations per push
    max_request_bytes: int = 8 * MiB  # a push body after decompression
    max_blob_bytes: int = 20 * MiB  # one photo or scanned document
    chunk_bytes: int = 256 * 1024  # what a phone should send per upload request
    max_chunk_bytes: int = 4 * MiB  # what the server accepts per upload request
    pull_page: int = 500  # changes per pull page
    tombstone_days: int = 90  # how long deletions stay in the pull feed
    max_clock_skew_ms: int = 24 * 3600 * 1000  # a stamp further ahead than this is a wrong phone clock


LIMITS = Limits()
