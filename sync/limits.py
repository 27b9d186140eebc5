"""The limits of the sync protocol, in one place: the server's routes enforce them, `GET
/sync/config` announces them, and the reference client checks them before it sends (so an
official learns at the site, not after walking away, that a photo is too large).

The second group bounds what one edit (an answer or a dated record) may carry; sync/inputs.py
checks it on the way in, over REST and sync alike, and refuses an edit over a limit on its own
(the rest of a push applies). docs/security.md lists each limit with the test that checks it.
"""

from __future__ import annotations

import datetime as dt

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

    # -- what one edit may carry ------------------------------------------------------------
    max_text_chars: int = 4000  # a text answer, an N/A reason, a text field (as a review comment)
    max_label_chars: int = 200  # an evidence label, a record title, a record field's value
    max_attachments: int = 100  # evidence of one answer, attachments of one record
    max_fields: int = 32  # secondary fields of one answer or record
    max_choices: int = 64  # options chosen in one multi_select answer (each at most once)
    max_count: int = 1_000_000  # a count: people, teams, grids, places, a shelter's capacity
    max_number: float = 1e9  # a measured number (e.g. an area in m²), never negative
    first_date: dt.date = dt.date(2000, 1, 1)  # of a date answer or a dated record
    last_date: dt.date = dt.date(2099, 12, 31)
    # A record id: what the field app and the reference client generate (uuid4) and short names
    # like "dr-2024-1"; no '/', no control or direction characters, one path segment of a URL.
    record_id_pattern: str = r"^[A-Za-z0-9][A-Za-z0-9_.:-]{0,127}$"
    # The earliest assessment period: emergency management offices (应急管理部, and the local
    # bureaus under it) exist since 2018. The latest is the server's current year.
    first_period: int = 2018


LIMITS = Limits()
