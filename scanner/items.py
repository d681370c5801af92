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
    headings: list | None = None    # the text's outline (scanner.sentences.Heading); None: unknown
    # A policy page whose text the writer extracts (an HTML or plain-text body: under `scanner
    # scan` the scan process reads it, not the worker); its text, title, lang, headings unset.
    policy_body: bytes | None = None
    # pages
    resources: list = field(default_factory=list)   # [(request_url, via)]
    cookies: list = field(default_factory=list)     # [CookieRecord]
    # browser mode
    read_with: str = "static"       # static | browser: how the page's text was read
    behaviour: dict | None = None   # scanner.page_behaviour.PageObserver.to_dict()
    artifacts: list = field(default_factory=list)   # [scanner.browser.save_artifact() dicts]
    # evidence (docs/evidence.md)
    request_headers: dict | None = None    # {name: [values]} as sent, after the middlewares
    response_headers: dict | None = None   # {name: [values]} as received
    request_sent_at: str | None = None     # UTC, ISO 8601 with milliseconds
    response_received_at: str | None = None
    raw_body: bytes | None = None   # homepage and policy fetches only: the body as received


@dataclass
class StoreListingItem:
    """One app's store page (spiders/store.py): what it declares, or why it could not be read."""

    target_id: str
    url: str                          # the listing URL asked for, before any redirect
    package: str | None = None
    final_url: str | None = None
    status: int | None = None         # HTTP status of the listing page; None when no response
    error: str | None = None          # one line; None when the listing was read
    fetched_at: str | None = None
    body_sha256: str | None = None    # of the listing page's bytes, for evidence
    listing: dict | None = None       # scanner.store_listing.StoreListing.to_dict()
    privacy_policy_url: str | None = None  # the listing's, for the policy spider
    datasafety_url: str | None = None      # the data-safety page, when it had to be fetched too
