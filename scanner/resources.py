"""What a page pulls in: resource URLs from its HTML, tracker snippets in inline scripts, cookies."""

from __future__ import annotations

import re
from dataclasses import dataclass
from email.utils import parsedate_to_datetime
from urllib.parse import urljoin, urlsplit

from parsel import Selector

RESOURCE_SELECTORS = (
    ("script", "script[src]", "src"),
    ("img", "img[src]", "src"),
    ("iframe", "iframe[src]", "src"),
    ("link", "link[href]", "href"),
)

# Inline snippets that load a tracker without a src attribute in the HTML.
INLINE_SNIPPETS = (
    (re.compile(r"fbq\(\s*['\"]init['\"]"), "https://connect.facebook.net/en_US/fbevents.js"),
    (re.compile(r"ttq\.load\("), "https://analytics.tiktok.com/i18n/pixel/events.js"),
    (re.compile(r"GTM-[A-Z0-9]{4,}"), "https://www.googletagmanager.com/gtm.js"),
    (re.compile(r"gtag\(\s*['\"]config['\"]"), "https://www.googletagmanager.com/gtag/js"),
)


@dataclass(frozen=True)
class Resource:
    url: str
    via: str


def extract_resources(html: str, page_url: str) -> list[Resource]:
    """Every absolute http(s) URL the page loads, with how it is loaded."""
    sel = Selector(text=html)
    seen, out = set(), []

    def add(raw: str, via: str) -> None:
        raw = (raw or "").strip()
        if not raw or raw.startswith(("data:", "javascript:", "#")):
            return
        url = urljoin(page_url, raw)
        if urlsplit(url).scheme not in ("http", "https"):
            return
        if (url, via) not in seen:
            seen.add((url, via))
            out.append(Resource(url, via))

    for via, css, attr in RESOURCE_SELECTORS:
        for value in sel.css(css).xpath(f"@{attr}").getall():
            add(value, via)
    for script in sel.xpath("//script[not(@src)]/text()").getall():
        for rx, url in INLINE_SNIPPETS:
            if rx.search(script):
                add(url, "inline")
    return out


@dataclass(frozen=True)
class CookieRecord:
    name: str
    domain: str
    expires: str | None
    secure: bool
    samesite: str | None
    http_only: bool


def parse_set_cookie(header: str, request_host: str) -> CookieRecord | None:
    parts = [p.strip() for p in header.split(";")]
    if not parts or "=" not in parts[0]:
        return None
    name = parts[0].split("=", 1)[0].strip()
    attrs = {}
    for part in parts[1:]:
        key, _, value = part.partition("=")
        attrs[key.strip().lower()] = value.strip()
    expires = attrs.get("expires")
    if expires:
        try:
            expires = parsedate_to_datetime(expires).isoformat()
        except (TypeError, ValueError):
            pass
    if "max-age" in attrs:
        expires = f"max-age={attrs['max-age']}"
    return CookieRecord(
        name=name, domain=(attrs.get("domain") or request_host).lstrip("."), expires=expires,
        secure="secure" in attrs, samesite=attrs.get("samesite"), http_only="httponly" in attrs,
    )
