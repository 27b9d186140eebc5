"""Request limits that protect a province's server: per-user push rate, per-address rate of
certificate checks, image pixel counts.

Body sizes are limited per route (Litestar's request_max_body_size, from sync/limits.py's LIMITS;
see server/api/); media types come from the content (sync/media.py `sniff`).
"""

from __future__ import annotations

import io
import math
import threading
import time
import warnings
from collections.abc import Callable

from PIL import Image

from server.errors import InvalidInput, TooLarge, TooManyRequests


class RateLimiter:
    """A token bucket per key: `per_minute` requests, refilled continuously; bursts up to that.
    Keys whose bucket has refilled are forgotten once more than `max_keys` are held (a limit per
    client address must not grow without bound under a flood of addresses)."""

    def __init__(self, per_minute: int, clock: Callable[[], float] = time.monotonic, max_keys: int = 10_000):
        self.rate = per_minute / 60.0
        self.capacity = float(per_minute)
        self.clock = clock
        self.max_keys = max_keys
        self._buckets: dict[object, tuple[float, float]] = {}
        self._lock = threading.Lock()

    def _prune(self, now: float) -> None:
        full = [k for k, (tokens, last) in self._buckets.items() if tokens + (now - last) * self.rate >= self.capacity]
        for key in full:
            del self._buckets[key]
        if len(self._buckets) > self.max_keys:  # all busy: keep the most recent half
            recent = sorted(self._buckets.items(), key=lambda kv: kv[1][1])[len(self._buckets) // 2:]
            self._buckets = dict(recent)

    def check(self, key: object, what: str) -> None:
        """Take one token for `key`; TooManyRequests (with Retry-After) when none is left."""
        if self.rate <= 0:
            return
        now = self.clock()
        with self._lock:
            if len(self._buckets) > self.max_keys and key not in self._buckets:
                self._prune(now)
            tokens, last = self._buckets.get(key, (self.capacity, now))
            tokens = min(self.capacity, tokens + (now - last) * self.rate)
            if tokens < 1.0:
                retry = max(1, math.ceil((1.0 - tokens) / self.rate))
                self._buckets[key] = (tokens, now)
                raise TooManyRequests(
                    f"{what}过于频繁，请 {retry} 秒后再试 / too many {what} requests; retry in {retry}s",
                    retry_after=retry,
                )
            self._buckets[key] = (tokens - 1.0, now)


def check_image(data: bytes, media_type: str, max_pixels: int) -> None:
    """Refuse an image whose header declares more than `max_pixels` (a decompression bomb: a few
    kilobytes that would expand to gigabytes in a reviewer's browser or a thumbnailer), or whose
    header is not a readable image at all. Only the header is read; nothing is decoded."""
    if not media_type.startswith("image/"):
        return
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            with Image.open(io.BytesIO(data)) as image:
                width, height = image.size
    except Image.DecompressionBombError:
        width = height = max_pixels + 1
    except Exception:
        raise InvalidInput("图片文件已损坏或无法识别 / the image header cannot be read", field="body") from None
    if width * height > max_pixels:
        raise TooLarge(
            f"图片像素过多（{width}×{height}），疑似解压炸弹 / image declares {width}x{height} pixels, "
            f"over the {max_pixels} limit",
            limit=max_pixels,
        )
