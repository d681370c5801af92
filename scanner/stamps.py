"""What every stored row is stamped with, for the crawl's workers as for the store: the time
(UTC, to the second) and a text's sha256. A module of its own so that a worker stamps its
fetches without importing the store (sqlite-utils, the schema, the scoring: ~7 MB a worker)."""

from __future__ import annotations

import datetime as dt
import hashlib


def now() -> str:
    return dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")


def text_sha256(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()
