"""What the spiders hand to the pipeline: one item per fetch, carrying what was found there."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class FetchItem:
    target_id: str
    url: str
    kind: str                       # policy | page
    final_url: str | None = None
    status: int | None = None
    error: str | None = None
    content_type: str | None = None
    discovered_by: str | None = None  # targets-file | link | link-rel | common-path | continuation
    fetched_at: str | None = None
    # policy documents
    text: str | None = None
    title: str | None = None
    lang: str | None = None
    # pages
    resources: list = field(default_factory=list)   # [(request_url, via)]
    cookies: list = field(default_factory=list)     # [CookieRecord]
